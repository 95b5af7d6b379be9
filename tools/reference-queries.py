#!/usr/bin/env python3
"""Builds the query fixture from the Python reference, ftm-lakehouse 0.9.0.

Imports examples/donations.ftm.json into a fresh lake with the reference CLI, runs every query
of QUERIES below through `ftm-lakehouse entities iterate -q ...` / `--rql ...`, and writes the
results as a JSON array (format below). It only runs the reference CLI (and, to list the
number-typed properties, its `followthemoney` model); no reference code is copied here.

    python3 tools/reference-queries.py --ref /tmp/ref \
        --out crates/lakehouse/tests/fixtures/reference_queries.json

Options: --ref VENV (needs VENV/bin/ftm-lakehouse), --duck DIR (DuckDB 1.5.5 + delta
extension as set up by tools/reference-check.sh: DIR/site on PYTHONPATH,
LAKEHOUSE_DUCKDB_EXTENSION_DIRECTORY=DIR/ext; default /tmp/duck, skipped when absent),
--lake DIR (lake to import into; default a temporary directory; must not exist yet),
--jobs N (parallel queries), --check-only (run, print the checks, write nothing).

Fixture element:
    {"kind": "q" | "rql", "query": str,
     "ids": [entity ids] | null (error),
     "ordered": bool,        # true when the query sorts or slices (q: sort/limit/offset);
                             # otherwise ids are stored sorted and compared as a set
     "error": str | null,    # final exception line without its class ("Invalid schema: `Foo`")
     "error_class": str | null,   # "QueryError", "ValueError", "KeyError", ...
     "props": [names],       # only with select: union of property names of the results
     "numeric": [entity ids]}     # only for gt/gte/lt/lte on number-typed properties:
                             # expected ids when those compare as numbers (computed here)

The reference compares every value as a string (`gte:properties.amountEur=100000` matches
"50000"). For queries with bound comparators on a number-typed property, QUERIES carries a
small predicate (see `Where` helpers); the script evaluates it over the donations JSON twice:
with string comparison (must reproduce the reference's ids, checked and reported) and with
numeric comparison (stored as "numeric").

The script also prints the counts of the spec examples (shared spec, interfaces.md §2.3/2.4)
against what the reference returned.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "examples", "donations.ftm.json")
DATASET = "donations"

# --- ids of the donations sample used below -------------------------------------------------
CDU = "c326dd8021ee75fe9608f31ecb4e2e7388144102"
MLPD = "6d03aec76fdeec8f9697d8b19954ab6fc2568bc8"
FDP = "783d918df9f9178400d6b3386439ab3b3679979c"
BMW = "21cc81bf3b960d2847b66c6c862e7aa9b5e4f487"
STEFAN_QUANDT = "0875bc617a5ff0a0ba605ea76d0fccd44660e7e7"
ADDR_KARLSRUHE = "97149caa3aef14e2be5ae6b3974c6882e7536d88"
ADDR_2FULL = "fb9bebe5105ed916004e294a6d9048eac65e3ece"  # two `full` values
PAYMENT = "2216b422a31242fe204654ce194864661f515921"
# statement id of PAYMENT's amountEur=100000 row (deterministic statement id)
STMT = "8911637562da9534961bdf944f5e156e3e7aa46f"


# --- predicate helpers for the numeric expectations ------------------------------------------
# A where-expression is a nested tuple:
#   ("P", prop, op, value)        property leaf, entity-level: some value satisfies op
#                                 (op: eq in not not_in gt gte lt lte like ilike startswith endswith)
#   ("B", prop, [(op, v), ...])   several bound comparators holding for one and the same value
#   ("S", schema) / ("SIN", [schemas])   schema equality / membership
#   ("AND", e...), ("OR", e...), ("NOT", e)
# A numeric spec: {"where": expr, "sort": (prop, desc) | None, "limit": n | None, "offset": n}


def Num(where, sort=None, limit=None, offset=0):
    return {"where": where, "sort": sort, "limit": limit, "offset": offset}


def P(prop, op, value):
    return ("P", prop, op, value)


def B(prop, *bounds):
    return ("B", prop, list(bounds))


def S(schema):
    return ("S", schema)


def AND(*xs):
    return ("AND",) + xs


def OR(*xs):
    return ("OR",) + xs


def NOT(x):
    return ("NOT", x)


# --- the queries -----------------------------------------------------------------------------
# (kind, query) or (kind, query, numeric spec)
QUERIES = [
    # ---- -q: meta fields ----
    ("q", ""),
    ("q", "filter:schema=Person"),
    ("q", "filter:schema=Person&filter:schema=Organization"),
    ("q", "filter:schema=Payment"),
    ("q", "filter:schema=LegalEntity"),
    ("q", "filter:schema=Foo"),
    ("q", "filter:schema=Person&filter:schema=Foo"),
    ("q", "exclude:schema=Payment"),
    ("q", "exclude:schema=Payment&exclude:schema=Address"),
    ("q", "exclude:schema=Foo"),
    ("q", "filter:startswith:schema=P"),
    ("q", "filter:like:schema=ddre"),
    ("q", "filter:gt:schema=Organization"),
    ("q", "filter:schemata=LegalEntity"),
    ("q", "filter:schemata=Organization"),
    ("q", "filter:schemata=Thing"),
    ("q", "filter:schemata=Interval"),
    ("q", "filter:schemata=Asset"),
    ("q", "filter:schemata=Person&filter:schemata=Address"),
    ("q", "exclude:schemata=LegalEntity"),
    ("q", "filter:schemata=Foo"),
    ("q", "filter:like:schemata=Legal"),
    ("q", "filter:like:schemata=LegalEntity"),
    ("q", "empty:schema"),
    ("q", "filter:schemata=LegalEntity&exclude:schema=Company"),
    ("q", f"filter:id={MLPD}"),
    ("q", f"filter:_id={MLPD}"),
    ("q", f"filter:entity_id={MLPD}"),
    ("q", f"filter:id={MLPD}&filter:id={CDU}&filter:id=nope"),
    ("q", f"exclude:id={MLPD}"),
    ("q", f"filter:id={MLPD}%20"),
    ("q", "filter:startswith:id=6d"),
    ("q", "filter:like:_id=abc"),
    ("q", "filter:gte:entity_id=fc"),
    ("q", f"filter:schema=Payment&filter:id={MLPD}"),
    ("q", "filter:canonical_id=x"),
    ("q", f"exclude:canonical_id={MLPD}"),
    ("q", "filter:dataset=donations"),
    ("q", "filter:datasets=donations"),
    ("q", "filter:collection_id=donations"),
    ("q", "filter:collections=other"),
    ("q", "exclude:dataset=donations"),
    ("q", "filter:dataset=donations&filter:dataset=other&filter:schema=Person"),
    ("q", "filter:year=2010"),
    ("q", "exclude:year=2010"),
    # ---- -q: properties ----
    ("q", "filter:properties.name=MLPD"),
    ("q", "filter:properties.name=MLPD&filter:properties.name=FDP"),
    ("q", "filter:properties.country=de"),
    ("q", "filter:properties.country=gb&filter:properties.country=lu"),
    ("q", "exclude:properties.country=de"),
    ("q", "exclude:properties.country=de&exclude:properties.country=gb"),
    ("q", "filter:properties.amountEur=100000"),
    ("q", "filter:properties.amountEur=113969.15"),
    ("q", "filter:properties.date=2011-12-29"),
    ("q", "filter:properties.namesMentioned=CDU"),
    ("q", f"filter:properties.beneficiary={CDU}"),
    ("q", f"filter:properties.payer={BMW}&filter:properties.beneficiary={CDU}"),
    ("q", f"filter:properties.addressEntity={ADDR_KARLSRUHE}"),
    ("q", "filter:properties.name=MLPD&filter:schema=Payment"),
    ("q", "filter:properties.foo=x"),
    ("q", "filter:name=MLPD"),
    ("q", "filter:origin=bulk"),
    ("q", "filter:like:properties.name=Quandt"),
    ("q", "filter:like:properties.name=quandt"),
    ("q", "filter:ilike:properties.name=mlp"),
    ("q", "filter:ilike:properties.name=QUANDT"),
    ("q", "filter:like:properties.name=Q%25andt"),
    ("q", "filter:like:properties.name=Qu_ndt"),
    ("q", "filter:like:properties.name=*Quandt*"),
    ("q", "filter:like:properties.name=Quandt&filter:like:properties.name=Allianz"),
    ("q", "filter:startswith:properties.name=Herr"),
    ("q", "filter:startswith:properties.name=herr"),
    ("q", "filter:endswith:properties.name=AG"),
    ("q", "filter:endswith:properties.name=e.V."),
    ("q", "filter:startswith:properties.name=Frau&filter:endswith:properties.name=Quandt"),
    ("q", "filter:like:properties.full=München"),
    ("q", "filter:ilike:properties.city=MÜNCHEN"),
    ("q", "filter:gte:properties.date=2011-01-01"),
    ("q", "filter:gt:properties.date=2011"),
    ("q", "filter:lt:properties.date=2003"),
    ("q", "filter:gte:properties.date=2005-01-01&filter:lt:properties.date=2006-01-01"),
    ("q", "filter:lte:properties.name=B"),
    ("q", "filter:gt:properties.namesMentioned=D&filter:lt:properties.namesMentioned=E"),
    ("q", "filter:gte:properties.full=M&filter:lt:properties.full=N"),
    ("q", "filter:gt:properties.country=de"),
    ("q", "empty:properties.country"),
    ("q", "empty:properties.country="),
    ("q", "empty:properties.country=de"),
    ("q", "empty:properties.name"),
    ("q", "empty:properties.amountEur"),
    ("q", "empty:properties.amount"),
    ("q", "empty:properties.foo"),
    ("q", "empty:properties.country&filter:schema=Company"),
    ("q", "empty:properties.addressEntity&filter:schemata=LegalEntity"),
    ("q", "exclude:like:properties.name=AG&filter:schema=Company"),
    ("q", "exclude:startswith:properties.name=Herr&filter:schema=Person"),
    ("q", "exclude:lt:properties.date=2011&filter:schema=Payment"),
    ("q", "exclude:ilike:properties.name=quandt"),
    ("q", "filter:not:properties.country=de"),
    ("q", "filter:in:properties.country=de"),
    ("q", "filter:null:properties.country=true"),
    # ---- -q: number-typed property, bound comparators ----
    ("q", "filter:gte:properties.amountEur=100000",
     Num(P("amountEur", "gte", "100000"))),
    ("q", "filter:gt:properties.amountEur=1000000",
     Num(P("amountEur", "gt", "1000000"))),
    ("q", "filter:lt:properties.amountEur=60000",
     Num(P("amountEur", "lt", "60000"))),
    ("q", "filter:lte:properties.amountEur=50000",
     Num(P("amountEur", "lte", "50000"))),
    ("q", "filter:gt:properties.amountEur=113969",
     Num(P("amountEur", "gt", "113969"))),
    ("q", "filter:lt:properties.amountEur=113969.2&filter:gt:properties.amountEur=113969.1",
     Num(B("amountEur", ("lt", "113969.2"), ("gt", "113969.1")))),
    ("q", "filter:gte:properties.amountEur=100000&filter:lt:properties.amountEur=200000",
     Num(B("amountEur", ("gte", "100000"), ("lt", "200000")))),
    ("q", "filter:gte:properties.amountEur=500000&filter:gte:properties.amountEur=9",
     Num(P("amountEur", "gte", "500000"))),
    ("q", "filter:gte:properties.amountEur=abc",
     Num(P("amountEur", "gte", "abc"))),
    ("q", "filter:gt:properties.amount=0",
     Num(P("amount", "gt", "0"))),
    ("q", "exclude:gte:properties.amountEur=100000",
     Num(NOT(P("amountEur", "gte", "100000")))),
    ("q", "filter:schema=Payment&exclude:gte:properties.amountEur=100000",
     Num(AND(S("Payment"), NOT(P("amountEur", "gte", "100000"))))),
    ("q", f"filter:properties.beneficiary={CDU}&filter:gte:properties.amountEur=200000",
     Num(AND(P("beneficiary", "eq", CDU), P("amountEur", "gte", "200000")))),
    ("q", "filter:properties.namesMentioned=CDU&filter:gte:properties.date=2010-01-01"
          "&filter:lt:properties.amountEur=100000",
     Num(AND(P("namesMentioned", "eq", "CDU"), P("date", "gte", "2010-01-01"),
             P("amountEur", "lt", "100000")))),
    ("q", "filter:gte:properties.amountEur=100000&sort=properties.amountEur&limit=10",
     Num(P("amountEur", "gte", "100000"), sort=("amountEur", False), limit=10)),
    ("q", "filter:lt:properties.amountEur=60000&sort=properties.amountEur:desc&limit=5&offset=2",
     Num(P("amountEur", "lt", "60000"), sort=("amountEur", True), limit=5, offset=2)),
    ("q", "filter:gte:properties.amountEur=300000&limit=5",
     Num(P("amountEur", "gte", "300000"), limit=5)),
    ("q", "filter:gte:properties.amountEur=300000&sort=properties.date:desc",
     Num(P("amountEur", "gte", "300000"), sort=("date", True))),
    ("q", "filter:gte:properties.amountEur=100000&select=properties.amountEur",
     Num(P("amountEur", "gte", "100000"))),
    # ---- -q: groups ----
    ("q", "filter:group.countries=de"),
    ("q", "filter:group.countries=gb&filter:group.countries=cy"),
    ("q", "exclude:group.countries=de"),
    ("q", "filter:group.names=CDU"),
    ("q", "filter:like:group.names=Quandt"),
    ("q", f"filter:group.entities={CDU}"),
    ("q", "filter:group.dates=2011-12-29"),
    ("q", "filter:gte:group.dates=2011-06-01&filter:lt:group.dates=2011-07-01"),
    ("q", "filter:startswith:group.addresses=Max-Joseph"),
    ("q", "empty:group.countries"),
    ("q", "empty:group.addresses"),
    ("q", "empty:group.emails"),
    ("q", "filter:group.emails=x@example.org"),
    ("q", "filter:group.checksums=x"),
    ("q", "filter:group.identifiers=x"),
    ("q", "filter:group.foo=x"),
    ("q", "filter:group.numbers=100000"),
    ("q", "filter:group.ibans=x"),
    ("q", "empty:group.foo"),
    ("q", "filter:group.countries=de&filter:schema=Address&exclude:like:properties.city=München"),
    # ---- -q: context columns ----
    ("q", "filter:context.origin=bulk"),
    ("q", "filter:context.origin=other"),
    ("q", "filter:context.origin=bulk&limit=2"),
    ("q", "empty:context.origin"),
    ("q", "filter:context.bucket=interval"),
    ("q", "filter:context.bucket=thing&exclude:schema=Address"),
    ("q", "filter:context.dataset=donations"),
    ("q", "filter:context.schema=Organization"),
    ("q", f"filter:context.entity_id={MLPD}"),
    ("q", f"filter:context.id={STMT}"),
    ("q", "filter:context.prop=full"),
    ("q", "filter:context.prop_type=country"),
    ("q", "filter:context.prop_type=country&filter:context.value=gb"),
    ("q", "filter:context.prop=amountEur&filter:context.value=100000"),
    ("q", "filter:context.prop=name&filter:context.value=100000"),
    ("q", "filter:context.prop=country&filter:gt:context.value=d"),
    ("q", "filter:context.value=MLPD"),
    ("q", "filter:ilike:context.value=quandt"),
    ("q", "filter:gte:context.value=z"),
    ("q", "filter:context.lang=deu"),
    ("q", "empty:context.lang"),
    ("q", "empty:context.original_value"),
    ("q", "empty:context.source"),
    ("q", "empty:context.role"),
    ("q", "empty:context.deleted_at"),
    ("q", "empty:context.first_seen"),
    ("q", "empty:context.fragment"),
    ("q", "filter:context.fragment="),
    ("q", "filter:context.external=false"),
    ("q", "filter:context.external=true"),
    ("q", "filter:context.external=0"),
    ("q", "filter:context.shard=0"),
    ("q", "filter:gt:context.shard=0"),
    ("q", "filter:gt:context.first_seen=2000-01-01"),
    ("q", "filter:lt:context.first_seen=2000-01-01T00:00:00"),
    ("q", "filter:gte:context.last_seen=2100-01-01T00:00:00%2B00:00"),
    ("q", "filter:lte:context.last_seen=2100-01-01&filter:schema=Person"),
    ("q", "filter:context.first_seen=2000-01-01"),
    ("q", "filter:gt:context.deleted_at=2000-01-01"),
    ("q", "exclude:context.prop=date"),
    ("q", "exclude:context.prop_type=country"),
    ("q", "filter:context.foo=x"),
    ("q", "empty:context.foo"),
    ("q", "filter:context.dataset=donations&filter:context.origin=bulk&filter:schema=Person"),
    # ---- -q: sort / slice / select ----
    ("q", "filter:schema=Person&sort=properties.name:desc&limit=3"),
    ("q", "filter:schema=Person&sort=properties.name&limit=3"),
    ("q", "filter:schema=Person&sort=properties.name:asc"),
    ("q", "filter:schema=Person&sort=properties.name:foo&limit=4"),
    ("q", "filter:schema=Payment&sort=properties.amountEur:desc&limit=3"),
    ("q", "sort=properties.amountEur&limit=5"),
    ("q", "sort=properties.amountEur&limit=10&offset=285"),
    ("q", "sort=properties.amountEur:desc&limit=5&offset=288"),
    ("q", "filter:schema=Payment&sort=properties.date:desc&limit=10"),
    ("q", "filter:schema=Address&sort=properties.country:desc&limit=6"),
    ("q", "filter:schema=Address&sort=properties.country&limit=6&offset=80"),
    ("q", "filter:schema=Address&sort=properties.full&limit=5"),
    ("q", "filter:schema=Address&sort=properties.full:desc&limit=5"),
    ("q", f"filter:id={ADDR_2FULL}&sort=properties.full"),
    ("q", "filter:like:properties.name=Rath&sort=properties.country&limit=10"),
    ("q", "filter:schema=Payment&filter:properties.namesMentioned=FDP&sort=properties.namesMentioned:desc&limit=8"),
    ("q", "sort=properties.name:desc&limit=3&offset=1"),
    ("q", "sort=properties.foo"),
    ("q", "sort=name"),
    ("q", "sort=schema"),
    ("q", "sort=properties.name&sort=properties.date"),
    ("q", "limit=5"),
    ("q", "offset=470"),
    ("q", "limit=5&offset=470"),
    ("q", "limit=0"),
    ("q", "filter:schema=Person&limit=0"),
    ("q", "offset=1000"),
    ("q", "limit=1000"),
    ("q", "offset=0&filter:schema=Organization"),
    ("q", "filter:schema=Person&limit=5&offset=3"),
    ("q", "filter:group.countries=de&limit=2&offset=1"),
    ("q", "limit=a"),
    ("q", "offset=x"),
    ("q", "limit=-1"),
    ("q", "limit=1&limit=2"),
    ("q", "offset=1&offset=2"),
    ("q", "filter:schema=Person&select=properties.name"),
    ("q", "filter:schema=Person&select=properties.name&select=properties.country"),
    ("q", "filter:schema=Company&select=group.countries&limit=10"),
    ("q", "filter:schema=Payment&select=properties.amountEur&sort=properties.amountEur:desc&limit=3"),
    ("q", "filter:schema=Organization&select=properties.amount"),
    ("q", "filter:schema=Organization&select=properties.foo"),
    ("q", "filter:schema=Organization&select=name"),
    # ---- -q: aggregation keys (validated, ignored), unknown keys, parsing ----
    ("q", "filter:schema=Payment&metric:sum=properties.amountEur"),
    ("q", "filter:schema=Payment&metric:avg=properties.amountEur&metric:max=properties.date"),
    ("q", "metric:foo=properties.amountEur"),
    ("q", "metric:sum=properties.foo"),
    ("q", "filter:schema=Person&facet=properties.country"),
    ("q", "facet=properties.foo"),
    ("q", "filter:schema=Payment&facet=properties.payer&facet_sort=sum:properties.amountEur"
          "&metric:sum=properties.amountEur"),
    ("q", "filter:schema=Payment&facet_sort=bad"),
    ("q", "filter:schema=Payment&facet_size:properties.payer=5"),
    ("q", "facet_size:properties.payer=x"),
    ("q", "filter:schema=Payment&facet=properties.payer&facet_size:properties.payer=5"),
    ("q", "foo=bar&filter:schema=Organization"),
    ("q", "q=Quandt"),
    ("q", "highlight=true&facet_total=true&filter:schema=Person"),
    ("q", "filter%3Aschema=Person"),
    ("q", "&&filter:schema=Person&"),
    ("q", "filter:properties.name=Frau%20Johanna%20Quandt"),
    ("q", "filter:properties.name=Frau Johanna Quandt"),
    ("q", "filter:properties.name=Frau+Johanna+Quandt"),
    ("q", "filter:properties.name=GR%C3%9CNE"),
    ("q", "filter:properties.name=GRÜNE"),
    ("q", "filter:properties.name=Berenberg%20Bank%20Joh.%20Berenberg%2C%20Gossler%20%26%20Co."),
    ("q", "filter:properties.name=Victor's Bau + Wert AG"),
    ("q", "filter:properties.name=Victor's%20Bau%20%2B%20Wert%20AG"),
    ("q", "filter:properties.name=a=b"),
    ("q", "filter:schema=Person&filter:gte:properties.amountEur=100&sort=properties.name:desc"
          "&limit=10&offset=5",
     Num(AND(S("Person"), P("amountEur", "gte", "100")), sort=("name", True), limit=10,
         offset=5)),
    # ---- --rql ----
    ("rql", ""),
    ("rql", "eq(schema,Person)"),
    ("rql", "eq(schema,Foo)"),
    ("rql", "ne(schema,Payment)"),
    ("rql", "not(eq(schema,Payment))"),
    ("rql", "in(schema,(Person,Organization))"),
    ("rql", "out(schema,(Person,Organization,Payment))"),
    ("rql", "out(schema,(Person,Foo))"),
    ("rql", "schema=Person"),
    ("rql", "schema=ne=Payment"),
    ("rql", "schema=out=(Payment,Address)"),
    ("rql", "eq(schemata,LegalEntity)"),
    ("rql", "ne(schemata,LegalEntity)"),
    ("rql", "in(schemata,(Organization,Address))"),
    ("rql", "like(schemata,Legal)"),
    ("rql", f"eq(id,{MLPD})"),
    ("rql", f"eq(_id,{MLPD})"),
    ("rql", f"in(entity_id,({MLPD},{CDU},{FDP}))"),
    ("rql", f"ne(id,{MLPD})"),
    ("rql", "eq(canonical_id,x)"),
    ("rql", "eq(dataset,donations)"),
    ("rql", "eq(collection_id,other)"),
    ("rql", "eq(year,2010)"),
    ("rql", "eq(properties.name,MLPD)"),
    ("rql", "eq(name,MLPD)"),
    ("rql", "name=MLPD"),
    ("rql", "eq(foo,x)"),
    ("rql", "eq(origin,bulk)"),
    ("rql", "eq(properties.foo,x)"),
    ("rql", "ne(properties.country,de)"),
    ("rql", "not(eq(properties.country,de))"),
    ("rql", "country=ne=de"),
    ("rql", "in(properties.country,(gb,cy,lu))"),
    ("rql", "out(properties.country,(de))"),
    ("rql", "out(country,(de,gb))"),
    ("rql", "not(in(country,(de,gb)))"),
    ("rql", "like(properties.name,*Quandt*)"),
    ("rql", "like(name,Quandt)"),
    ("rql", "like(name,quandt)"),
    ("rql", "ilike(name,*quandt)"),
    ("rql", "like(name,Q*andt)"),
    ("rql", "contains(properties.name,Quandt)"),
    ("rql", "contains(namesMentioned,Quandt)"),
    ("rql", "ilike(full,münchen)"),
    ("rql", "ge(date,2011-06-01)"),
    ("rql", "and(ge(date,2011-06-01),lt(date,2011-07-01))"),
    ("rql", "lt(name,B)"),
    ("rql", "and(gt(namesMentioned,D),lt(namesMentioned,E))"),
    ("rql", "and(eq(namesMentioned,CDU),eq(namesMentioned,Bayerische Motorenwerke AG))"),
    ("rql", "and(eq(schema,Person),eq(schema,Organization))"),
    ("rql", "and(ge(properties.amountEur,100000),lt(properties.amountEur,200000))",
     Num(B("amountEur", ("gte", "100000"), ("lt", "200000")))),
    ("rql", "ge(properties.amountEur,1e5)",
     Num(P("amountEur", "gte", "100000.0"))),
    ("rql", "ge(amountEur,number:1000000)",
     Num(P("amountEur", "gte", "1000000"))),
    ("rql", "gt(amountEur,string:0999999)",
     Num(P("amountEur", "gt", "0999999"))),
    ("rql", "le(amountEur,60000)",
     Num(P("amountEur", "lte", "60000"))),
    ("rql", "amountEur=lt=55000",
     Num(P("amountEur", "lt", "55000"))),
    ("rql", "not(ge(amountEur,100000))",
     Num(NOT(P("amountEur", "gte", "100000")))),
    ("rql", "and(eq(schema,Payment),not(ge(amountEur,100000)))",
     Num(AND(S("Payment"), NOT(P("amountEur", "gte", "100000"))))),
    ("rql", "or(gt(amountEur,1000000),lt(amountEur,50500))",
     Num(OR(P("amountEur", "gt", "1000000"), P("amountEur", "lt", "50500")))),
    ("rql", "or(and(eq(namesMentioned,SPD),gt(amountEur,150000)),and(eq(namesMentioned,FDP),"
            "lt(amountEur,60000)))",
     Num(OR(AND(P("namesMentioned", "eq", "SPD"), P("amountEur", "gt", "150000")),
            AND(P("namesMentioned", "eq", "FDP"), P("amountEur", "lt", "60000"))))),
    ("rql", f"and(eq(beneficiary,{CDU}),ge(amountEur,decimal:200000))",
     Num(AND(P("beneficiary", "eq", CDU), P("amountEur", "gte", "200000")))),
    ("rql", "eq(properties.amountEur,100000)"),
    ("rql", "eq(properties.amountEur,string:100000)"),
    ("rql", "eq(properties.amountEur,number:100000)"),
    ("rql", "eq(properties.amountEur,113969.15)"),
    ("rql", "eq(properties.amountEur,1e5)"),
    ("rql", "eq(properties.amountEur,100000.0)"),
    ("rql", "eq(properties.date,2011-12-29)"),
    ("rql", "eq(properties.date,date:2011-12-29)"),
    ("rql", "eq(name,007)"),
    ("rql", "eq(name,string:007)"),
    ("rql", "eq(name,true)"),
    ("rql", "eq(name,null)"),
    ("rql", "eq(context.external,false)"),
    ("rql", "eq(context.external,boolean:true)"),
    ("rql", "gt(context.first_seen,datetime:2000-01-01T00:00:00)"),
    ("rql", "lt(context.first_seen,2000-01-01)"),
    ("rql", "gt(context.last_seen,epoch:0)"),
    ("rql", "eq(context.origin,bulk)"),
    ("rql", "eq(context.prop_type,number)"),
    ("rql", "and(eq(context.prop,country),eq(context.value,gb))"),
    ("rql", "and(eq(context.prop,name),eq(context.value,100000))"),
    ("rql", "ne(context.prop,id)"),
    ("rql", "eq(context.lang,eng)"),
    ("rql", "eq(context.bucket,thing)"),
    ("rql", "eq(context.foo,x)"),
    ("rql", "eq(group.countries,gb)"),
    ("rql", "in(group.countries,(gb,cy,lu))"),
    ("rql", "ne(group.countries,de)"),
    ("rql", "not(eq(group.countries,de))"),
    ("rql", "like(group.names,Quandt)"),
    ("rql", f"eq(group.entities,{MLPD})"),
    ("rql", "eq(group.foo,x)"),
    ("rql", "or(eq(schema,Person),eq(schema,Organization))"),
    ("rql", "(eq(schema,Person)|eq(schema,Organization))"),
    ("rql", "eq(schema,Person)|eq(schema,Organization)"),
    ("rql", "eq(schema,Person),eq(country,de)"),
    ("rql", "eq(schema,Person)&eq(properties.name,Johanna Quandt)"),
    ("rql", "and(eq(schema,Person),or(eq(group.countries,de),eq(group.countries,at)))"),
    ("rql", "not(or(eq(schema,Payment),eq(schema,Address)))"),
    ("rql", "not(not(eq(schema,Person)))"),
    ("rql", "and(eq(schema,Payment),not(eq(namesMentioned,CDU)))"),
    ("rql", "and(eq(schema,Payment),not(or(eq(namesMentioned,CDU),eq(namesMentioned,CSU))))"),
    ("rql", "or(and(eq(schema,Person),like(name,Quandt)),and(eq(schema,Company),like(name,Quandt)))"),
    ("rql", "and(eq(schemata,LegalEntity),not(eq(country,de)))"),
    ("rql", "not(and(eq(schema,Company),eq(country,de)))"),
    ("rql", "eq(properties.name,Frau%20Johanna%20Quandt)"),
    ("rql", "eq(properties.name,Frau Johanna Quandt)"),
    ("rql", "eq(name,GR%C3%9CNE)"),
    ("rql", "eq(name,GRÜNE)"),
    ("rql", "eq(name,Berenberg Bank Joh. Berenberg%2C Gossler %26 Co.)"),
    ("rql", "eq(name,Victor's Bau + Wert AG)"),
    ("rql", "eq(name,Victor%27s Bau %2B Wert AG)"),
    ("rql", "eq(name,Victor%27s Bau + Wert AG)"),
    ("rql", "and(eq(schema,Person),select(properties.name))"),
    ("rql", "and(eq(schema,Company),select(name,country))"),
    ("rql", "and(eq(schema,Company),select(properties.name,properties.country))"),
    ("rql", "and(eq(schema,Address),select(group.countries))"),
    ("rql", "select(properties.foo)"),
    ("rql", "sum(properties.amountEur)"),
    ("rql", "and(eq(schema,Payment),max(properties.amountEur),min(properties.date))"),
    ("rql", "and(eq(schema,Person),count(properties.name))"),
    ("rql", "and(eq(schema,Payment),mean(amountEur))"),
    ("rql", "and(eq(schema,Payment),aggregate(properties.payer,sum(properties.amountEur)))"),
    ("rql", "sum(properties.foo)"),
    ("rql", "sort(+properties.name)"),
    ("rql", "limit(5)"),
    ("rql", "and(eq(schema,Person),limit(5,0))"),
    ("rql", "startswith(name,Herr)"),
    ("rql", "null(properties.country)"),
    ("rql", "foo(bar)"),
    ("rql", "eq(schema,Person"),
    ("rql", "eq(schema)"),
]

# spec §2.3/§2.4 examples: query -> expected count
SPEC_COUNTS = {
    ("q", "filter:schema=Person"): 22,
    ("q", "filter:schema=Person&filter:schema=Organization"): 39,
    ("q", "filter:schemata=LegalEntity"): 95,
    ("q", "filter:properties.name=MLPD"): 1,
    ("q", "filter:ilike:properties.name=mlp"): 1,
    ("q", "exclude:schema=Payment"): 184,
    ("q", "empty:properties.country"): 304,
    ("q", "filter:context.origin=bulk&limit=2"): 2,
    ("q", "filter:group.countries=de&limit=2&offset=1"): 2,
    ("q", "filter:schema=Person&sort=properties.name:desc&limit=3"): 3,
    ("q", "filter:schema=Payment&sort=properties.amountEur:desc&limit=3"): 3,
    ("q", "limit=5&offset=470"): 4,
    ("q", "filter:gte:properties.amountEur=100000"): 290,
    ("rql", "ne(properties.country,de)"): 7,
    ("rql", "not(eq(properties.country,de))"): 311,
    ("rql", "ne(schema,Payment)"): 184,
    ("rql", "not(eq(schema,Payment))"): 184,
    ("rql", "out(schema,(Person,Organization,Payment))"): 145,
    ("rql", "and(ge(properties.amountEur,100000),lt(properties.amountEur,200000))"): 106,
    ("rql", "eq(schema,Person)&eq(properties.name,Johanna Quandt)"): 1,
    ("rql", "and(eq(schema,Person),select(properties.name))"): 22,
}

BOUND_OPS_Q = re.compile(r"(?:filter|exclude):(?:gt|gte|lt|lte):(?:properties\.)?(\w+)=")
BOUND_OPS_RQL = re.compile(r"\b(?:gt|ge|lt|le)\((?:properties\.)?(\w+),|\b(?:properties\.)?(\w+)=(?:gt|ge|lt|le)=")

FALLBACK_NUMBER_PROPS = {
    "amount", "amountEur", "amountUsd", "area", "balance", "capital", "confidenceScore",
    "deadweightTonnage", "duration", "fileSize", "grossRegisteredTonnage", "height", "index",
    "latitude", "longitude", "maxBalance", "maximumNumberOfLots", "numberOfLots",
    "numberOfSeats", "rowCount", "samplingRate", "tonnage", "weight",
}


def number_props(ref):
    """Names of number-typed properties, asked from the reference's FtM model."""
    code = ("from followthemoney import model\n"
            "print('\\n'.join(sorted({p.name for s in model.schemata.values() "
            "for p in s.properties.values() if p.type.name == 'number'})))")
    try:
        out = subprocess.run([os.path.join(ref, "bin", "python"), "-c", code],
                             capture_output=True, text=True, check=True).stdout
        names = {line.strip() for line in out.splitlines() if line.strip()}
        if names:
            return names
    except (OSError, subprocess.CalledProcessError):
        pass
    return set(FALLBACK_NUMBER_PROPS)


# --- numeric/string evaluation of the predicates ----------------------------------------------

def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _cmp(op, value, target, numeric):
    if numeric:
        a, b = _float(value), _float(target)
        if a is None or b is None:
            return False
    else:
        a, b = value, target
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def _value_ok(op, value, target, numeric):
    if op == "eq":
        return value == target
    if op == "in":
        return value in target
    if op == "not":
        return value != target
    if op == "not_in":
        return value not in target
    if op in ("gt", "gte", "lt", "lte"):
        return _cmp(op, value, target, numeric)
    if op == "like":
        return target in value
    if op == "ilike":
        return target.lower() in value.lower()
    if op == "startswith":
        return value.startswith(target)
    if op == "endswith":
        return value.endswith(target)
    raise ValueError(op)


def evaluate(expr, entity, numeric, numprops):
    kind = expr[0]
    if kind == "P":
        _, prop, op, target = expr
        num = numeric and prop in numprops
        return any(_value_ok(op, v, target, num) for v in entity["properties"].get(prop, []))
    if kind == "B":
        _, prop, bounds = expr
        num = numeric and prop in numprops
        return any(all(_value_ok(op, v, t, num) for op, t in bounds)
                   for v in entity["properties"].get(prop, []))
    if kind == "S":
        return entity["schema"] == expr[1]
    if kind == "SIN":
        return entity["schema"] in expr[1]
    if kind == "AND":
        return all(evaluate(x, entity, numeric, numprops) for x in expr[1:])
    if kind == "OR":
        return any(evaluate(x, entity, numeric, numprops) for x in expr[1:])
    if kind == "NOT":
        return not evaluate(expr[1], entity, numeric, numprops)
    raise ValueError(kind)


def expected_ids(spec, entities, numeric, numprops):
    hits = [e for e in entities if evaluate(spec["where"], e, numeric, numprops)]
    ordered = spec["sort"] is not None or spec["limit"] is not None or spec["offset"]
    if spec["sort"] is not None:
        prop, desc = spec["sort"]

        def key(v):
            return (_float(v) if prop in numprops else v)

        have = [e for e in hits if e["properties"].get(prop)]
        lack = sorted((e for e in hits if not e["properties"].get(prop)), key=lambda e: e["id"])
        have.sort(key=lambda e: e["id"])  # ties by entity id
        if desc:
            have.sort(key=lambda e: max(key(v) for v in e["properties"][prop]), reverse=True)
        else:
            have.sort(key=lambda e: min(key(v) for v in e["properties"][prop]))
        ids = [e["id"] for e in have + lack]
    else:
        ids = sorted(e["id"] for e in hits)
    if ordered:
        start = spec["offset"] or 0
        end = None if spec["limit"] is None else start + spec["limit"]
        ids = ids[start:end]
    return ids


# --- running the reference ---------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")


def parse_error(stderr):
    """(class, message) of the final exception of a Python traceback on stderr."""
    lines = ANSI.sub("", stderr).splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if starts:
        for line in lines[starts[-1] + 1:]:
            if not line.strip() or line.startswith(" ") or line.startswith("\t"):
                continue
            m = EXC_LINE.match(line.strip())
            if m:
                return m.group(1).rsplit(".", 1)[-1], (m.group(2) or "")
            return None, line.strip()
    for line in reversed(lines):
        if line.strip().lower().startswith("error:"):
            return None, line.strip()[len("error:"):].strip()
    tail = [line.strip() for line in lines if line.strip()]
    return None, (tail[-1] if tail else "")


def q_is_ordered(query):
    keys = {part.split("=", 1)[0] for part in query.split("&") if part}
    return bool(keys & {"sort", "limit", "offset"})


def has_select(kind, query):
    if kind == "q":
        return any(part.split("=", 1)[0] == "select" for part in query.split("&"))
    return "select(" in query


def run_query(cli, lake, env, kind, query):
    flag = "-q" if kind == "q" else "--rql"
    proc = subprocess.run([cli, "--uri", lake, "-d", DATASET, "entities", "iterate", flag, query],
                          capture_output=True, text=True, env=env)
    result = {"kind": kind, "query": query}
    ordered = kind == "q" and q_is_ordered(query)
    if proc.returncode != 0:
        cls, msg = parse_error(proc.stderr)
        result.update(ids=None, ordered=ordered, error=msg, error_class=cls)
        return result
    entities = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    ids = [e["id"] for e in entities]
    if not ordered:
        ids = sorted(ids)
    result.update(ids=ids, ordered=ordered, error=None, error_class=None)
    if has_select(kind, query):
        result["props"] = sorted({p for e in entities for p in (e.get("properties") or {})})
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="/tmp/ref", help="reference venv")
    ap.add_argument("--duck", default="/tmp/duck", help="DuckDB site/ext directory")
    ap.add_argument("--out", default=os.path.join(
        ROOT, "crates", "lakehouse", "tests", "fixtures", "reference_queries.json"))
    ap.add_argument("--lake", help="fresh lake directory (default: a temporary one)")
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2))
    ap.add_argument("--check-only", action="store_true")
    args = ap.parse_args()

    cli = os.path.join(args.ref, "bin", "ftm-lakehouse")
    env = dict(os.environ, NO_COLOR="1")
    if os.path.isdir(os.path.join(args.duck, "site")):
        env["PYTHONPATH"] = os.path.join(args.duck, "site") + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["LAKEHOUSE_DUCKDB_EXTENSION_DIRECTORY"] = os.path.join(args.duck, "ext")

    numprops = number_props(args.ref)
    entities = [json.loads(line) for line in open(SAMPLE, encoding="utf-8") if line.strip()]

    # every bound comparator on a number-typed property needs its numeric expectation
    for item in QUERIES:
        kind, query = item[0], item[1]
        pat = BOUND_OPS_Q if kind == "q" else BOUND_OPS_RQL
        fields = {g for m in pat.finditer(query) for g in m.groups() if g}
        if fields & numprops and len(item) < 3:
            sys.exit(f"query needs a numeric spec: {kind} {query}")
    seen = set()
    for item in QUERIES:
        if item[:2] in seen:
            sys.exit(f"duplicate query: {item[:2]}")
        seen.add(item[:2])

    tmp = None
    lake = args.lake
    if lake is None:
        tmp = tempfile.mkdtemp(prefix="refq-")
        lake = os.path.join(tmp, "lake")
    try:
        proc = subprocess.run([cli, "--uri", lake, "-d", DATASET, "entities", "import",
                               "-i", SAMPLE], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"import failed:\n{proc.stderr}")
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda it: run_query(cli, lake, env, it[0], it[1]), QUERIES))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    problems = 0
    for item, res in zip(QUERIES, results):
        if len(item) < 3:
            continue
        spec = item[2]
        as_str = expected_ids(spec, entities, False, numprops)
        if res["ids"] is None:
            print(f"NUMERIC SPEC ON ERROR: {item[0]} {item[1]}: {res['error']}")
            problems += 1
            continue
        ref_ids = res["ids"]
        if as_str != ref_ids:
            print(f"STRING-MODE MISMATCH: {item[0]} {item[1]}: ours {len(as_str)} ref {len(ref_ids)}")
            problems += 1
        res["numeric"] = expected_ids(spec, entities, True, numprops)

    for (kind, query), want in SPEC_COUNTS.items():
        res = next(r for r in results if r["kind"] == kind and r["query"] == query)
        got = None if res["ids"] is None else len(res["ids"])
        mark = "ok" if got == want else "MISMATCH"
        print(f"spec {mark}: {kind} {query!r}: spec {want}, reference {got}")

    n_err = sum(r["ids"] is None for r in results)
    print(f"{len(results)} queries ({sum(r['kind'] == 'q' for r in results)} q, "
          f"{sum(r['kind'] == 'rql' for r in results)} rql), {n_err} errors, "
          f"{sum('numeric' in r for r in results)} with numeric expectations, {problems} problems")
    if not args.check_only:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write("[\n")
            fh.write(",\n".join(json.dumps(r, ensure_ascii=False) for r in results))
            fh.write("\n]\n")
        print(f"wrote {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
