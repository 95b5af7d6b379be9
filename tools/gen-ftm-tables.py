"""Export the lookup tables FtM's value cleaning needs, and golden cases to test ours against.

Run with the reference's venv (followthemoney 4.11.2 and rigour, both MIT):

    /tmp/ref/bin/python tools/gen-ftm-tables.py

Writes, relative to the repository root:
- crates/ftm/data/territories.tsv: `kind<TAB>text<TAB>ftm country` for every code (`i`) and name
  (`s` strong, `w` weak, `p` place) rigour's territory lookup knows, names as rigour spells them;
- crates/ftm/data/languages.tsv: `text<TAB>code` for every code and name FtM's language type
  accepts, as FtM's `language` type cleans it;
- crates/ftm/data/topics.tsv: `code<TAB>label` of FtM's topics;
- crates/ftm/tests/fixtures/clean_cases.json: `[type, input, output-or-null]` triples from FtM's
  `clean_text`, the oracle of `crates/ftm/tests/clean.rs`.
"""

import json
import sys
from pathlib import Path

from babel import Locale
from followthemoney.types import registry
from rigour._core import territories_jsonl
from rigour.data import iter_jsonl_text
from rigour.langs import ISO2_MAP, ISO3_ALL, ISO3_MAP
from rigour.territories.territory import get_index

ROOT = Path(__file__).resolve().parent.parent


def territories():
    index = get_index()
    rows = []
    for data in iter_jsonl_text(territories_jsonl()):
        territory = index[data["code"]]
        country = territory.ftm_country
        if country is None:
            continue
        codes = [territory.code, territory.alpha3, territory.qid, *territory.other_codes, *territory.other_qids]
        rows += [("i", c, country) for c in codes if c]
        strong = [*data.get("names_strong", []), territory.name, territory.full_name]
        rows += [("s", n, country) for n in strong if n]
        rows += [("w", n, country) for n in data.get("names_weak", [])]
        rows += [("p", n, country) for n in data.get("places", [])]
    return rows


def languages():
    names = set(ISO2_MAP) | set(ISO3_MAP) | set(ISO3_ALL) | set(registry.language.LANGUAGES)
    names |= {n for n in Locale("en").languages.values()}
    for code in registry.language.LANGUAGES:
        try:
            names |= {n for n in Locale.parse(code).languages.values()}
            names.add(Locale.parse(code).get_display_name(code))
        except Exception:
            pass
    rows = {}
    for name in sorted(names):
        code = registry.language.clean_text(name)
        if code is not None:
            rows[name.strip().lower()] = code
    return sorted(rows.items())


CASES = {
    "date": ["2010-05-15", "2005-03", "2005", "2018-11-30T10:20:30", "2018-11-30T10:20:30Z", "2018-11-30 10:20",
             "2018-11-30T10:20:30.123+02:00", "15.05.2010", " 2010-05-15 ", "20100515", "2010-5-15", "2010-13-01",
             "2010-02-30", "2012-02-29", "2011-02-29", "1999-12", "0001", "1000", "0999", "9999-12-31", "2100-01-01",
             "2010-05-15T25:00", "2010-05-15T10", "2010-05-15T10:20:30+0200", "2010-05-15T", "2010-05-15T10:20:30-05:00",
             "2010-1", "2010-01-1", "2010-00", "2010-01-00", "abc", "", "2010/05/15", "2010-05-15T10:20:61",
             "2010-05-15 10:20:30.5", "2010-05-15T23:30:00-02:00", "-2010", "12010"],
    "country": ["de", "DE", "Germany", "germany", "deu", "DEU", "Deutschland", "United Kingdom", "UK", "gb-sct",
                "GB-SCT", "Scotland", "zz", "xx", "276", "Russia", "Russian Federation", "  de ", "Côte d'Ivoire",
                "Kosovo", "xk", "eu", "su", "ussr", "cote d'ivoire", "Cote dIvoire", "GERMANY!", "Germany.",
                "great britain", "england", "U.S.A.", "usa", "United States of America", "Bundesrepublik Deutschland",
                "de-by", "DE ", "Holland", "Burma", "turkey", "türkiye", "Q183", "São Tomé", "SAO TOME", "Россия",
                "中国", "Ελλάδα", "Москва", "de_by", "Bavaria", "Korea, Republic of", "Viet Nam", "", "x"],
    "email": ["Info@Example.COM", "x@y.z", "a@b.co", "mailto:a@b.com", "a b@c.com", " a@b.com ", "a@localhost",
              "a@b..com", "a@münchen.de", "<a@b.com>", "a@-b.com", "a@b.c1", "a@b.com.", "@b.com", "a@", "a@@b.com",
              "MAILTO:A@B.COM", "a.b+c@d-e.org", "a@b_c.com", "a@1.2.3.4", ".a@b.com", "a..b@c.com"],
    "url": ["example.com/x", "http://x.org", "ftp://a.b", "https://EXAMPLE.com/A?b=1#f", "www.x.de", "x", "http://",
            "mailto:a@b.com", "http://a.b", "https://münchen.de/ä", "//x.org/p", "http://x.org:8080",
            "javascript:alert(1)", " http://x.org ", "HTTP://X.ORG/Path", "http://x.org/a b", "http://user@x.org/",
            "http://1.2.3.4/", "https://x.org?q=1", "x.org#frag", "http://localhost/", "http://x.org:99999/"],
    "number": ["1,000.50", "abc", "1e3", " 12 ", "12 EUR", "-3"],
    "name": ["  Acme   Corp ", "a\tb", "a\nb", " x", "a\u200bb", "Ä"],
    "string": ["  a  b  ", "\u200bx", " t3"],
    "text": ["  a  b  ", "a\u0007b"],
    "address": ["  Main   St \n 5 ", "a\r\nb", "a,\nb", " x "],
    "identifier": ["  R-9", "HRB 123"],
    "gender": ["male", "Male", "m", "f", "female", "woman", "other", "x", " male ", "MÄNNLICH", "d"],
    "language": ["en", "eng", "de", "deu", "ger", "English", "german", "xx", "ENG", "en_US", "en-GB", " eng ",
                 "Deutsch", "français", "nob", "zh", "chi", "mul", "und", "Greek", "Farsi"],
    "ip": ["1.2.3.4", "::1", "1.2.3", "010.1.1.1", "2001:DB8::1", " 1.2.3.4 ", "::ffff:1.2.3.4", "1.2.3.256"],
    "mimetype": ["text/plain", "TEXT/PLAIN", "text/plain; charset=utf-8", "bla", "application/pdf", " text/html "],
    "topic": ["crime", "Crime", "role.pep", "xyz", " crime "],
    "checksum": ["ABC", "abc"],
    "entity": ["a.b", "a_b", " x ", "ABC"],
    "phone": ["+49 30 1234567", "030 1234567", "12", "+1 (202) 555-0143", "+442079460000", "0044 20 7946 0000",
              "+49-30-1234567", "tel:+4930123456"],
    "json": ['{"a":1}'],
    "html": ["<b>x</b>"],
}


def cases():
    out = []
    for name, values in CASES.items():
        kind = registry.get(name)
        for value in values:
            out.append([name, value, kind.clean_text(value)])
    for number, (kind, text, _) in enumerate(territories()):
        if kind in "is" or number % 10 == 0:
            out.append(["country", text, registry.country.clean_text(text)])
    return out


def main():
    data = ROOT / "crates" / "ftm" / "data"
    with open(data / "territories.tsv", "w") as fh:
        fh.write("# kind\ttext\tftm country: rigour's territory codes and names (MIT), tools/gen-ftm-tables.py\n")
        for row in territories():
            fh.write("\t".join(v.replace("\t", " ") for v in row) + "\n")
    with open(data / "languages.tsv", "w") as fh:
        fh.write("# text\tcode: what FtM's language type accepts (rigour, babel), tools/gen-ftm-tables.py\n")
        for row in languages():
            fh.write("\t".join(row) + "\n")
    with open(data / "topics.tsv", "w") as fh:
        fh.write("# code\tlabel: FtM's topic list (followthemoney), tools/gen-ftm-tables.py\n")
        for code, label in sorted(registry.topic._TOPICS.items()):
            fh.write(f"{code}\t{label}\n")
    fixture = ROOT / "crates" / "ftm" / "tests" / "fixtures" / "clean_cases.json"
    fixture.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(case, ensure_ascii=False) for case in cases())
    fixture.write_text("[\n" + ",\n".join(lines) + "\n]\n")
    print("tables written", file=sys.stderr)


if __name__ == "__main__":
    main()
