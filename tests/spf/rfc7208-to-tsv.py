#!/usr/bin/env python3
# rfc7208-to-tsv.py - turns the RFC 7208 conformance suite that Debian's
# python3-spf ships (YAML, gzipped) into the tab-separated lines
# tests/spf/rfc7208-suite.cpp reads, at test time (the data is not in the
# tree). DNS data follows pyspf's own driver (testspf.py): a name's SPF-type
# records are also served as TXT unless it has TXT records of its own,
# "NONE" entries are dropped, a bare TIMEOUT times the name out.
#
#   rfc7208-to-tsv.py SUITE.yml.gz > suite.tsv
# Lines (fields tab-separated, \t \n \\ escaped):
#   scenario  DESCRIPTION
#   rr        NAME TYPE DATA        (TYPE: A AAAA MX PTR TXT CNAME)
#   timeout   NAME
#   test      NAME HOST MAILFROM HELO RESULTS(comma-separated) EXPLANATION(or empty)
import gzip
import sys

import yaml


def esc(s):
    return str(s).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def line(*fields):
    print("\t".join(esc(f) for f in fields))


def main():
    path = sys.argv[1]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        docs = list(yaml.safe_load_all(f))
    for doc in docs:
        if not doc:
            continue
        line("scenario", doc.get("description", ""))
        for name, entries in (doc.get("zonedata") or {}).items():
            generated = []
            has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
            for e in entries:
                if e == "TIMEOUT":
                    line("timeout", name)
                    continue
                for rtype, value in e.items():
                    if rtype in ("TXT", "SPF"):
                        value = "".join(value) if isinstance(value, list) else value
                        if value == "NONE":
                            continue
                        if rtype == "SPF":
                            if not has_txt:
                                generated.append(value)
                            continue
                    elif rtype == "MX":
                        value = value[1]
                    line("rr", name, rtype, value)
            for value in generated:
                line("rr", name, "TXT", value)
        for tname, t in doc["tests"].items():
            results = t["result"] if isinstance(t["result"], list) else [t["result"]]
            line("test", tname, t["host"], t["mailfrom"], t["helo"], ",".join(results),
                 t.get("explanation", ""))


if __name__ == "__main__":
    main()
