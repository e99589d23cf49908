#!/usr/bin/env python3
"""Structure summary of an `atlc report` page, for FileCheck (tests/lit/report/).

  check_report.py REPORT.html [--svg-dir DIR]

Parses the page as XML (the report writes well-formed XHTML syntax) and every SVG file of
--svg-dir; fails when either is malformed, when the page refers to anything outside itself
(scripts, stylesheets, images, external links or url(...) other than in-page fragments), or when an
SVG file differs in structure from the inline plot of the same name. Prints one line per plot and
per results-table row."""
import os
import re
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("check_report: " + msg, file=sys.stderr)
    sys.exit(1)


def parse(path):
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        fail("%s is not well-formed XML: %s" % (path, e))


def cls(el):
    return (el.get("class") or "").split()


def summary(svg):
    def count(tag, c):
        return sum(1 for e in svg.iter(SVG + tag) if c in cls(e))
    title = svg.find(SVG + "title")
    return {
        "id": svg.get("id"),
        "title": title.text if title is not None else "",
        "series": count("path", "series"),
        "bands": count("path", "band"),
        "errbars": count("path", "errbar"),
        "markers": count("path", "markers"),
        "legend": count("g", "legend-entry"),
        "xticks": sum(1 for a in svg.iter(SVG + "g") if "x-axis" in cls(a)
                      for t in a.iter(SVG + "g") if "tick" in cls(t)),
        "yticks": sum(1 for a in svg.iter(SVG + "g") if "y-axis" in cls(a)
                      for t in a.iter(SVG + "g") if "tick" in cls(t)),
    }


def line(s):
    return ("plot %(id)s title=\"%(title)s\" series=%(series)d bands=%(bands)d "
            "errbars=%(errbars)d markers=%(markers)d legend=%(legend)d xticks=%(xticks)d "
            "yticks=%(yticks)d" % s)


def text(el):
    return "".join(el.itertext()).strip()


def main():
    args = sys.argv[1:]
    if not args:
        fail("usage: check_report.py REPORT.html [--svg-dir DIR]")
    html = args[0]
    svg_dir = args[args.index("--svg-dir") + 1] if "--svg-dir" in args else None
    raw = open(html, encoding="utf-8").read()
    root = parse(html)
    if root.tag != "html":
        fail("the root element is <%s>, not <html>" % root.tag)
    # self-contained: nothing that loads another resource
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        if tag in ("script", "link", "img", "iframe", "object", "embed"):
            fail("the page has a <%s> element" % tag)
        for k, v in el.attrib.items():
            k = k.split("}")[-1]
            if k in ("src", "href") and not v.startswith("#"):
                fail("<%s %s=\"%s\"> refers outside the page" % (tag, k, v))
    for m in re.finditer(r"url\(([^)]*)\)", raw):
        if not m.group(1).startswith("#"):
            fail("url(%s) refers outside the page" % m.group(1))
    print("page title=\"%s\"" % text(root.find("head/title")))
    inline = {}
    for sec in root.iter("section"):
        print("section %s" % sec.get("id"))
        for fig in sec.iter("figure"):
            svg = fig.find(SVG + "svg")
            if svg is None:
                fail("figure %s has no inline <svg>" % fig.get("id"))
            s = summary(svg)
            inline[fig.get("data-file")] = s
            print(line(s) + " file=" + fig.get("data-file"))
        for table in sec.iter("table"):
            if "results" not in cls(table):
                continue
            rows = table.findall("tbody/tr")
            print("table %s rows=%d" % (table.get("id"), len(rows)))
            head = [text(th) for th in table.findall("thead/tr/th")]
            print("  head " + " | ".join(head))
            for tr in rows:
                print("  row " + " | ".join(
                    text(td) + ("*" if "top" in cls(td) else "") for td in tr.findall("td")))
    ids = [s["id"] for s in inline.values()]
    if len(set(ids)) != len(ids):
        fail("duplicate plot ids: %s" % ids)
    if svg_dir is not None:
        files = sorted(f for f in os.listdir(svg_dir) if f.endswith(".svg"))
        if sorted(inline) != files:
            fail("SVG files %s differ from the page's plots %s" % (files, sorted(inline)))
        for f in files:
            s = summary(parse(os.path.join(svg_dir, f)))
            if s != inline[f]:
                fail("%s differs from the inline plot: %s vs %s" % (f, s, inline[f]))
            print("svg file %s ok" % f)


if __name__ == "__main__":
    main()
