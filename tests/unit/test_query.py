"""Unit tests for magi.api.query (ETSI GS NFV-SOL 013 §5.2 filter, §5.3 selectors, §5.4 paging)."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from magi.api.query import (
    KNOWN_QUERY_PARAMS,
    FilterExpr,
    QueryError,
    Selector,
    apply_selector,
    check_filter_attributes,
    check_known_params,
    decode_marker,
    encode_marker,
    link_header,
    matches,
    paginate,
    parse_filter,
    parse_selector,
)

# ---------------------------------------------------------------- parse_filter


def test_parse_filter_single_and_multiple_expressions():
    assert parse_filter("(eq,instantiationState,INSTANTIATED);(in,vnfdId,a,b)") == [
        FilterExpr("eq", ("instantiationState",), ("INSTANTIATED",)),
        FilterExpr("in", ("vnfdId",), ("a", "b")),
    ]


def test_parse_filter_nested_path_slash_and_dot():
    assert parse_filter("(eq,instantiatedVnfInfo/vnfState,STARTED)")[0].path == ("instantiatedVnfInfo", "vnfState")
    assert parse_filter("(eq,instantiatedVnfInfo.vnfState,STARTED)")[0].path == ("instantiatedVnfInfo", "vnfState")


def test_parse_filter_slash_path_keeps_dots_in_keys():
    assert parse_filter("(eq,metadata/a.b,x)")[0].path == ("metadata", "a.b")


def test_parse_filter_quoted_values():
    [expr] = parse_filter("(in,name,'a,b','it''s','x)y','',plain)")
    assert expr.values == ("a,b", "it's", "x)y", "", "plain")


def test_parse_filter_quoted_value_only_quotes():
    assert parse_filter("(eq,name,'''')")[0].values == ("'",)


def test_parse_filter_unquoted_special_chars_inside_parentheses():
    # ";" and "(" have no meaning inside an expression, only "," and ")" do.
    assert parse_filter("(eq,name,a;b(c)")[0].values == ("a;b(c",)


@pytest.mark.parametrize("op", ["eq", "neq", "in", "nin", "gt", "gte", "lt", "lte", "cont", "ncont"])
def test_parse_filter_accepts_every_operator(op):
    assert parse_filter(f"({op},a,1)") == [FilterExpr(op, ("a",), ("1",))]


@pytest.mark.parametrize("op", ["in", "nin", "cont", "ncont"])
def test_parse_filter_list_operators_take_several_values(op):
    assert parse_filter(f"({op},a,1,2,3)")[0].values == ("1", "2", "3")


@pytest.mark.parametrize("op", ["eq", "neq", "gt", "gte", "lt", "lte"])
def test_parse_filter_single_value_operators_reject_lists(op):
    with pytest.raises(QueryError, match=op):
        parse_filter(f"({op},a,1,2)")


@pytest.mark.parametrize(
    "text, detail",
    [
        ("", "Empty"),
        ("eq,a,b", "expected '\\('"),
        ("(eq,a,b", "missing '\\)'"),
        ("(eq,a)", "expected \\(op,attribute,value"),
        ("(eq)", "expected \\(op,attribute,value"),
        ("(foo,a,b)", "Unknown filter operator 'foo'"),
        ("(EQ,a,b)", "Unknown filter operator 'EQ'"),
        ("(eq,a,b);", "expected '\\('"),
        ("(eq,a,b)(eq,c,d)", "expected ';'"),
        ("(eq,a,b) ", "expected ';'"),
        ("(eq,a,)", "empty item"),
        ("(eq,,b)", "empty item"),
        ("(,a,b)", "empty item"),
        ("(eq,a,'b)", "unterminated quote"),
        ("(eq,a,'b'c)", "after quoted value"),
        ("(eq,a,O'Brien)", "must be quoted"),
        ("(eq,a//b,c)", "Invalid attribute path"),
        ("(eq,/a,c)", "Invalid attribute path"),
    ],
)
def test_parse_filter_malformed(text, detail):
    with pytest.raises(QueryError, match=detail):
        parse_filter(text)


def test_query_error_is_value_error_with_detail():
    with pytest.raises(ValueError) as exc:
        parse_filter("(bogus,a,b)")
    assert "bogus" in str(exc.value)


# ---------------------------------------------------------------- matches

VNF = {
    "id": "v1",
    "instantiationState": "INSTANTIATED",
    "vnfdId": "d1",
    "vnfInstanceName": "edge, router",
    "instantiatedVnfInfo": {
        "vnfState": "STARTED",
        "scaleStatus": [{"aspectId": "a1", "scaleLevel": 2}, {"aspectId": "a2", "scaleLevel": 10}],
        "vnfcResourceInfo": [
            {"vduId": "vdu1", "computeResource": {"resourceId": "srv-1"}},
            {"vduId": "vdu2", "computeResource": {"resourceId": "srv-2"}},
        ],
    },
    "tags": ["blue", "green"],
    "metadata": {"weight": 100, "enabled": True, "ratio": 1.5, "code": "010", "nothing": None},
    "createdAt": "2024-05-01T10:00:00Z",
}


def m(text: str, doc: dict = VNF) -> bool:
    return matches(doc, parse_filter(text))


def test_matches_eq_neq_simple():
    assert m("(eq,instantiationState,INSTANTIATED)")
    assert not m("(eq,instantiationState,NOT_INSTANTIATED)")
    assert m("(neq,instantiationState,NOT_INSTANTIATED)")
    assert not m("(neq,instantiationState,INSTANTIATED)")


def test_matches_is_case_sensitive_for_strings():
    assert not m("(eq,instantiationState,instantiated)")


def test_matches_and_of_all_expressions():
    assert m("(eq,instantiationState,INSTANTIATED);(eq,vnfdId,d1)")
    assert not m("(eq,instantiationState,INSTANTIATED);(eq,vnfdId,d2)")
    assert matches(VNF, [])


def test_matches_in_nin():
    assert m("(in,vnfdId,d0,d1)")
    assert not m("(in,vnfdId,d0,d2)")
    assert m("(nin,vnfdId,d0,d2)")
    assert not m("(nin,vnfdId,d0,d1)")


def test_matches_cont_ncont():
    assert m("(cont,vnfInstanceName,zzz,rout)")
    assert not m("(cont,vnfInstanceName,zzz,ROUT)")
    assert m("(ncont,vnfInstanceName,zzz,yyy)")
    assert not m("(ncont,vnfInstanceName,zzz,edge)")


def test_matches_quoted_value_with_comma():
    assert m("(eq,vnfInstanceName,'edge, router')")
    assert not m("(eq,vnfInstanceName,edge)")


def test_matches_nested_path():
    assert m("(eq,instantiatedVnfInfo/vnfState,STARTED)")
    assert m("(eq,instantiatedVnfInfo.vnfState,STARTED)")
    assert not m("(eq,instantiatedVnfInfo/vnfState,STOPPED)")


def test_matches_any_element_of_array_of_scalars():
    assert m("(eq,tags,green)")
    assert not m("(eq,tags,red)")
    assert m("(in,tags,red,blue)")


def test_matches_any_element_of_array_of_objects():
    assert m("(eq,instantiatedVnfInfo/vnfcResourceInfo/vduId,vdu2)")
    assert m("(eq,instantiatedVnfInfo/vnfcResourceInfo/computeResource/resourceId,srv-1)")
    assert not m("(eq,instantiatedVnfInfo/vnfcResourceInfo/vduId,vdu3)")
    assert m("(gt,instantiatedVnfInfo/scaleStatus/scaleLevel,5)")
    assert not m("(gt,instantiatedVnfInfo/scaleStatus/scaleLevel,10)")


def test_matches_negated_ops_on_arrays_mean_no_element_matches():
    assert not m("(neq,tags,blue)")  # "blue" is present, so "not equal" must fail
    assert m("(neq,tags,red)")
    assert not m("(nin,tags,red,green)")
    assert m("(nin,tags,red,black)")
    assert not m("(ncont,tags,lu)")


def test_matches_nested_array_of_arrays():
    assert m("(eq,grid,3)", {"grid": [[1, 2], [3, 4]]})


def test_matches_numeric_comparison_not_lexicographic():
    assert m("(gt,metadata/weight,20)")  # as strings "100" < "20"
    assert m("(lt,metadata/weight,1000)")
    assert m("(eq,metadata/weight,100.0)")
    assert m("(eq,metadata/weight,1e2)")
    assert m("(gte,metadata/weight,100)")
    assert m("(lte,metadata/weight,100)")
    assert not m("(gt,metadata/weight,100)")
    assert not m("(lt,metadata/weight,100)")
    assert m("(gt,metadata/ratio,1.25)")
    assert m("(lt,metadata/ratio,2)")
    assert m("(gt,metadata/weight,-5)")


def test_matches_number_against_non_numeric_value_never_matches():
    assert not m("(eq,metadata/weight,abc)")
    assert not m("(gt,metadata/weight,abc)")
    assert m("(neq,metadata/weight,abc)")


def test_matches_string_attribute_compares_as_string():
    # A String-typed attribute stays a string even when it looks numeric.
    assert not m("(eq,metadata/code,10)")
    assert m("(eq,metadata/code,010)")


def test_matches_string_ordering_for_datetimes():
    assert m("(gt,createdAt,2024-01-01T00:00:00Z)")
    assert m("(lt,createdAt,2024-12-31T00:00:00Z)")
    assert not m("(gte,createdAt,2024-05-01T10:00:01Z)")
    assert m("(lte,createdAt,2024-05-01T10:00:00Z)")


def test_matches_booleans():
    assert m("(eq,metadata/enabled,true)")
    assert m("(eq,metadata/enabled,TRUE)")
    assert not m("(eq,metadata/enabled,false)")
    assert m("(neq,metadata/enabled,false)")
    assert not m("(eq,metadata/enabled,1)")  # a bool is not the number 1
    assert not m("(gt,metadata/enabled,false)")  # ordering is undefined for booleans


def test_matches_numbers_and_booleans_do_not_cont():
    assert not m("(cont,metadata/weight,10)")
    assert m("(ncont,metadata/weight,10)")


@pytest.mark.parametrize(
    "op, expected",
    [
        ("eq", False), ("in", False), ("cont", False),
        ("gt", False), ("gte", False), ("lt", False), ("lte", False),
        ("neq", True), ("nin", True), ("ncont", True),
    ],
)
def test_matches_missing_attribute(op, expected):
    assert matches(VNF, [FilterExpr(op, ("nope",), ("x",))]) is expected
    assert matches(VNF, [FilterExpr(op, ("instantiatedVnfInfo", "nope"), ("x",))]) is expected
    # null counts as absent
    assert matches(VNF, [FilterExpr(op, ("metadata", "nothing"), ("x",))]) is expected


def test_matches_path_through_scalar_is_missing():
    assert not m("(eq,vnfdId/deeper,d1)")
    assert m("(neq,vnfdId/deeper,d1)")


def test_matches_object_attribute_never_equals_scalar():
    assert not m("(eq,instantiatedVnfInfo,STARTED)")
    assert not m("(gt,instantiatedVnfInfo,A)")


# ---------------------------------------------------------------- check_filter_attributes

ALLOWED = {"id", "vnfdId", "instantiatedVnfInfo/vnfState", "metadata/*"}


def test_check_filter_attributes_set_ok():
    check_filter_attributes(parse_filter("(eq,id,1);(eq,instantiatedVnfInfo/vnfState,STARTED)"), ALLOWED)
    check_filter_attributes(parse_filter("(eq,metadata/anything,1);(eq,metadata/a/b,1)"), ALLOWED)


@pytest.mark.parametrize(
    "attr",
    ["attribute_not_exist", "instantiatedVnfInfo", "instantiatedVnfInfo/vnfStateX", "vnfdId/x", "metadata", "meta/x"],
)
def test_check_filter_attributes_set_rejects(attr):
    with pytest.raises(QueryError, match=f"Invalid attribute in filter: {attr}$"):
        check_filter_attributes(parse_filter(f"(eq,{attr},1)"), ALLOWED)


def test_check_filter_attributes_plain_entry_is_not_a_prefix():
    # Only "x/*" entries admit sub-paths.
    with pytest.raises(QueryError, match="id/sub"):
        check_filter_attributes(parse_filter("(eq,id/sub,1)"), {"id"})


def test_check_filter_attributes_callable():
    seen = []

    def allowed(path):
        seen.append(path)
        return path[0] != "secret"

    check_filter_attributes(parse_filter("(eq,a/b,1)"), allowed)
    assert seen == [("a", "b")]
    with pytest.raises(QueryError, match="secret/x"):
        check_filter_attributes(parse_filter("(eq,a,1);(eq,secret/x,1)"), allowed)


def test_check_filter_attributes_names_dot_path_with_slashes():
    with pytest.raises(QueryError, match="a/b"):
        check_filter_attributes(parse_filter("(eq,a.b,1)"), {"a"})


# ---------------------------------------------------------------- parse_selector


def test_parse_selector_none_given_is_exclude_default():
    assert parse_selector({}) == Selector("default", (), ())
    assert parse_selector({"filter": "(eq,a,b)"}) == Selector("default", (), ())


def test_parse_selector_all_fields_flag_value_ignored():
    assert parse_selector({"all_fields": ""}) == Selector("all_fields", (), ())
    assert parse_selector({"all_fields": "whatever"}).mode == "all_fields"


def test_parse_selector_exclude_default():
    assert parse_selector({"exclude_default": ""}) == Selector("default", (), ())


def test_parse_selector_fields_alone_and_with_exclude_default():
    expected = Selector("default", (("a",), ("b", "c")), ())
    assert parse_selector({"fields": "a,b/c"}) == expected
    assert parse_selector({"fields": "a,b/c", "exclude_default": ""}) == expected


def test_parse_selector_exclude_fields_alone_starts_from_all():
    # SOL013: exclude_fields=<list> returns everything except the listed attributes.
    assert parse_selector({"exclude_fields": "a/b,c"}) == Selector("all_fields", (), (("a", "b"), ("c",)))


@pytest.mark.parametrize(
    "params",
    [
        {"all_fields": "", "fields": "a"},
        {"all_fields": "", "exclude_fields": "a"},
        {"all_fields": "", "exclude_default": ""},
        {"fields": "a", "exclude_fields": "b"},
        {"exclude_fields": "a", "exclude_default": ""},
        {"all_fields": "", "fields": "a", "exclude_default": ""},
        {"fields": "a", "exclude_fields": "b", "exclude_default": ""},
        {"all_fields": "", "fields": "a", "exclude_fields": "b", "exclude_default": ""},
    ],
)
def test_parse_selector_invalid_combinations(params):
    with pytest.raises(QueryError, match="Invalid combination of attribute selectors") as exc:
        parse_selector(params)
    for name in params:
        assert name in str(exc.value)


@pytest.mark.parametrize(
    "params", [{"fields": ""}, {"exclude_fields": ""}, {"fields": "a,,b"}, {"fields": "a/"}, {"exclude_fields": "/a"}]
)
def test_parse_selector_bad_lists(params):
    with pytest.raises(QueryError):
        parse_selector(params)


# ---------------------------------------------------------------- apply_selector

DOC = {
    "id": "v1",
    "vnfdId": "d1",
    "vimConnectionInfo": {"vim1": {"vimId": "x"}},
    "instantiatedVnfInfo": {
        "flavourId": "f1",
        "vnfcResourceInfo": [
            {"id": "c1", "vduId": "vdu1", "metadata": {"m": 1}},
            {"id": "c2", "vduId": "vdu2", "metadata": {"m": 2}},
        ],
        "extCpInfo": [{"id": "cp1"}],
    },
    "metadata": {"k": "v"},
    "_links": {"self": {"href": "/vnflcm/v2/vnf_instances/v1"}},
}
DEFAULT_EXCLUDED = ["vimConnectionInfo", "instantiatedVnfInfo", "metadata"]


def test_apply_selector_default_excludes_default_set():
    out = apply_selector(DOC, parse_selector({}), DEFAULT_EXCLUDED)
    assert out == {"id": "v1", "vnfdId": "d1", "_links": DOC["_links"]}


def test_apply_selector_all_fields_keeps_everything():
    assert apply_selector(DOC, parse_selector({"all_fields": ""}), DEFAULT_EXCLUDED) == DOC


def test_apply_selector_returns_copy_and_leaves_input_untouched():
    before = repr(DOC)
    out = apply_selector(DOC, parse_selector({"all_fields": ""}), DEFAULT_EXCLUDED)
    out["instantiatedVnfInfo"]["flavourId"] = "changed"
    apply_selector(DOC, parse_selector({"exclude_fields": "instantiatedVnfInfo/vnfcResourceInfo/metadata"}), [])
    assert repr(DOC) == before


def test_apply_selector_fields_reinclude_default_excluded():
    out = apply_selector(DOC, parse_selector({"fields": "metadata", "exclude_default": ""}), DEFAULT_EXCLUDED)
    assert set(out) == {"id", "vnfdId", "metadata", "_links"}
    assert out["metadata"] == {"k": "v"}


def test_apply_selector_nested_field_reincludes_its_parent_whole():
    out = apply_selector(DOC, parse_selector({"fields": "instantiatedVnfInfo/vnfcResourceInfo"}), DEFAULT_EXCLUDED)
    assert out["instantiatedVnfInfo"] == DOC["instantiatedVnfInfo"]  # mandatory children kept
    assert "vimConnectionInfo" not in out and "metadata" not in out


def test_apply_selector_nested_default_excluded_path():
    excluded = ["instantiatedVnfInfo/vnfcResourceInfo"]
    out = apply_selector(DOC, parse_selector({}), excluded)
    assert out["instantiatedVnfInfo"] == {"flavourId": "f1", "extCpInfo": [{"id": "cp1"}]}
    # naming an ancestor in fields re-includes it
    out = apply_selector(DOC, parse_selector({"fields": "instantiatedVnfInfo"}), excluded)
    assert out["instantiatedVnfInfo"] == DOC["instantiatedVnfInfo"]


def test_apply_selector_exclude_fields_alone_includes_default_excluded():
    out = apply_selector(DOC, parse_selector({"exclude_fields": "vimConnectionInfo"}), DEFAULT_EXCLUDED)
    assert "vimConnectionInfo" not in out
    assert out["instantiatedVnfInfo"] == DOC["instantiatedVnfInfo"]
    assert out["metadata"] == {"k": "v"}


def test_apply_selector_exclude_fields_nested_through_array():
    sel = parse_selector({"exclude_fields": "instantiatedVnfInfo/vnfcResourceInfo/metadata,metadata/k"})
    out = apply_selector(DOC, sel, DEFAULT_EXCLUDED)
    assert out["instantiatedVnfInfo"]["vnfcResourceInfo"] == [
        {"id": "c1", "vduId": "vdu1"},
        {"id": "c2", "vduId": "vdu2"},
    ]
    assert out["metadata"] == {}
    assert out["instantiatedVnfInfo"]["extCpInfo"] == [{"id": "cp1"}]


def test_apply_selector_exclude_fields_missing_path_is_ignored():
    sel = parse_selector({"exclude_fields": "nope,vnfdId/deeper,instantiatedVnfInfo/nope/x"})
    assert apply_selector(DOC, sel, []) == DOC


def test_apply_selector_never_removes_id_or_links():
    sel = parse_selector({"exclude_fields": "id,_links,_links/self"})
    out = apply_selector(DOC, sel, ["id", "_links"])
    assert out["id"] == "v1"
    assert out["_links"] == DOC["_links"]


def test_apply_selector_nested_id_can_be_excluded():
    sel = parse_selector({"exclude_fields": "instantiatedVnfInfo/extCpInfo/id"})
    assert apply_selector(DOC, sel, [])["instantiatedVnfInfo"]["extCpInfo"] == [{}]


def test_apply_selector_accepts_iterators_and_selector_objects():
    out = apply_selector(DOC, Selector("default"), iter(DEFAULT_EXCLUDED))
    assert "instantiatedVnfInfo" not in out


# ---------------------------------------------------------------- markers


@pytest.mark.parametrize(
    "payload", [{}, {"after": "abc"}, {"after": 42, "n": [1, 2]}, {"after": "ünïcode/+?&=#"}, {"k": "x" * 300}]
)
def test_marker_round_trip(payload):
    marker = encode_marker(payload)
    assert decode_marker(marker) == payload
    assert all(c.isalnum() or c in "-_" for c in marker)  # URL-safe, no padding


def test_marker_is_opaque_not_plain_json():
    marker = encode_marker({"after": "abc"})
    assert "after" not in marker and "{" not in marker


@pytest.mark.parametrize(
    "marker",
    [
        "",
        "!!!",
        "not base64 at all",
        "a",  # impossible base64 length
        base64.urlsafe_b64encode(b"not json").decode().rstrip("="),
        base64.urlsafe_b64encode(b"[1,2]").decode().rstrip("="),  # JSON but not an object
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),  # not UTF-8
        "eyJhZnRlciI6ImEifQ==",  # padding is not part of our alphabet
    ],
)
def test_decode_marker_garbage(marker):
    with pytest.raises(QueryError, match="nextpage_opaque_marker"):
        decode_marker(marker)


# ---------------------------------------------------------------- paginate

ITEMS = [{"id": f"id-{i:02d}", "n": i} for i in range(7)]


def test_paginate_walks_all_pages():
    seen, marker, pages = [], None, 0
    while True:
        page, marker = paginate(ITEMS, page_size=3, marker=marker)
        pages += 1
        seen.extend(page)
        if marker is None:
            break
    assert seen == ITEMS
    assert pages == 3


def test_paginate_first_page_and_marker_contents():
    page, marker = paginate(ITEMS, page_size=3, marker=None)
    assert [i["id"] for i in page] == ["id-00", "id-01", "id-02"]
    assert decode_marker(marker) == {"after": "id-02"}


def test_paginate_exact_fit_has_no_next_marker():
    page, marker = paginate(ITEMS[:3], page_size=3, marker=None)
    assert len(page) == 3 and marker is None
    page, marker = paginate(ITEMS, page_size=7, marker=None)
    assert len(page) == 7 and marker is None


def test_paginate_empty_collection():
    assert paginate([], page_size=5, marker=None) == ([], None)


def test_paginate_survives_deletion_of_marker_item():
    _, marker = paginate(ITEMS, page_size=3, marker=None)
    remaining = [i for i in ITEMS if i["id"] != "id-02"]
    page, _ = paginate(remaining, page_size=3, marker=marker)
    assert [i["id"] for i in page] == ["id-03", "id-04", "id-05"]


def test_paginate_custom_key():
    page, marker = paginate(ITEMS, page_size=4, marker=None, key="n")
    assert decode_marker(marker) == {"after": 3}
    page, marker = paginate(ITEMS, page_size=4, marker=marker, key="n")
    assert [i["n"] for i in page] == [4, 5, 6] and marker is None


def test_paginate_marker_past_end_gives_empty_last_page():
    assert paginate(ITEMS, page_size=3, marker=encode_marker({"after": "zzz"})) == ([], None)


@pytest.mark.parametrize("marker", ["garbage!", encode_marker({"other": 1}), encode_marker({"after": 5})])
def test_paginate_bad_marker(marker):
    with pytest.raises(QueryError, match="nextpage_opaque_marker"):
        paginate(ITEMS, page_size=3, marker=marker)


def test_paginate_rejects_non_positive_page_size():
    with pytest.raises(ValueError):
        paginate(ITEMS, page_size=0, marker=None)


# ---------------------------------------------------------------- link_header


def test_link_header_format_and_encoding():
    query = {"filter": "(eq,vnfInstanceName,'a b&c');(in,vnfdId,x,y)", "exclude_default": ""}
    header = link_header("https://nfvo:443/vnflcm/v2/vnf_instances", query, "XYZ-_1")
    assert header.startswith("<https://nfvo:443/vnflcm/v2/vnf_instances?")
    assert header.endswith('>; rel="next"')
    url = header[1 : header.index(">")]
    assert " " not in url and "'" not in url and ";" not in url and "&c" not in url
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert parsed == {
        "filter": ["(eq,vnfInstanceName,'a b&c');(in,vnfdId,x,y)"],
        "exclude_default": [""],
        "nextpage_opaque_marker": ["XYZ-_1"],
    }


def test_link_header_replaces_previous_marker():
    header = link_header("http://h/x", {"nextpage_opaque_marker": "OLD", "fields": "a/b"}, "NEW")
    url = header[1 : header.index(">")]
    assert parse_qs(urlsplit(url).query) == {"fields": ["a/b"], "nextpage_opaque_marker": ["NEW"]}
    assert "OLD" not in header


def test_link_header_without_other_params():
    assert link_header("http://h/x", {}, "M") == '<http://h/x?nextpage_opaque_marker=M>; rel="next"'


def test_link_header_marker_from_encode_round_trips():
    marker = encode_marker({"after": "ü/+"})
    url = link_header("http://h/x", {}, marker)[1:-len('>; rel="next"')]
    assert decode_marker(parse_qs(urlsplit(url).query)["nextpage_opaque_marker"][0]) == {"after": "ü/+"}


# ---------------------------------------------------------------- check_known_params


def test_known_params_constant():
    assert KNOWN_QUERY_PARAMS == {
        "filter", "all_fields", "fields", "exclude_fields", "exclude_default", "nextpage_opaque_marker"
    }


def test_check_known_params_accepts_known_and_extra():
    check_known_params({name: "" for name in KNOWN_QUERY_PARAMS})
    check_known_params({"filter": "x", "limit": "3"}, extra=["limit"])
    check_known_params({})


def test_check_known_params_rejects_unknown_naming_it():
    with pytest.raises(QueryError, match="attribute_not_exist"):
        check_known_params({"filter": "(eq,a,b)", "attribute_not_exist": "x"})
    with pytest.raises(QueryError, match="limit"):
        check_known_params({"limit": "3"}, extra=["offset"])


def test_check_known_params_lists_every_unknown():
    with pytest.raises(QueryError) as exc:
        check_known_params({"b": "", "a": "", "filter": ""})
    assert "a, b" in str(exc.value)
