"""The CLI's streamed JSON output is byte for byte what one json.dump of the whole object is."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from hypothesis import given, settings
from hypothesis import strategies as st

from invrecon.cli.common import print_json, print_json_streaming

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(obj=st.dictionaries(st.text(max_size=6), values, max_size=4),
       key=st.text(max_size=6), items=st.lists(values, max_size=5))
def test_streamed_json_is_the_whole_dump(obj, key, items):
    obj = {**obj, key: None}
    with redirect_stdout(io.StringIO()) as out:
        print_json({**obj, key: items})
    whole = out.getvalue()
    with redirect_stdout(io.StringIO()) as out:
        print_json_streaming(obj, key, iter(items))
    streamed = out.getvalue()
    assert streamed == whole
    assert json.loads(streamed)[key] == items
