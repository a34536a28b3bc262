from invrecon.cli import main

raise SystemExit(main())
