"""The terminal app (Textual). A thin layer over the engines: it never computes amounts itself.

``invrecon`` (no command) and ``invrecon tui`` open :class:`invrecon.tui.app.InvreconApp`.
"""
