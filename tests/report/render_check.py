#!/usr/bin/env python3
"""Checks an `atlc report` page as a real browser rendered it (scripts/check-report.sh).

  render_check.py PAGE.html DOM.html SCREENSHOT.png

DOM.html is chromium's --dump-dom of the page: every plot of the page (an inline <svg
class="atl-plot">) must be in the rendered DOM with the same id and the same number of data lines
(<path class="series">), bands and error bars. SCREENSHOT.png is a headless screenshot: it must
not be blank, and each colour the page's data lines use must cover enough pixels to be a drawn
line, marker or band (so the SVG was painted, not only parsed). Standard library only (the PNG
is decoded here)."""
import re
import struct
import sys
import zlib
from collections import Counter
from html.parser import HTMLParser


def fail(msg):
    print("render_check: " + msg, file=sys.stderr)
    sys.exit(1)


class Plots(HTMLParser):
    """Per <svg class="atl-plot">: counts of data paths by class, and their stroke colours."""

    def __init__(self):
        super().__init__()
        self.plots = {}
        self.cur = None
        self.colours = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "svg" and "atl-plot" in cls:
            self.cur = a.get("id")
            self.plots[self.cur] = {"series": 0, "band": 0, "errbar": 0, "markers": 0}
        elif self.cur and tag == "path":
            for c in ("series", "band", "errbar", "markers"):
                if c in cls:
                    self.plots[self.cur][c] += 1
            if "series" in cls and a.get("stroke"):
                self.colours.add(a["stroke"].lower())

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "svg":
            self.cur = None


def plots_of(path):
    p = Plots()
    p.feed(open(path, encoding="utf-8").read())
    return p


def read_png(path):
    """8-bit RGB/RGBA, non-interlaced PNG -> (width, height, channels, rows of bytes)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("%s is not a PNG file" % path)
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        fail("%s: unsupported PNG (depth %d, colour type %d)" % (path, depth, ctype))
    ch = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * ch
    rows, prev, k = [], bytes(stride), 0
    for _ in range(h):
        f = raw[k]
        cur = raw[k + 1:k + 1 + stride]
        k += 1 + stride
        if f == 0:
            line = bytearray(cur)
        elif f == 2:  # up
            line = bytearray((a + b) & 255 for a, b in zip(cur, prev))
        else:
            line = bytearray(cur)
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                if f == 1:  # sub
                    line[i] = (line[i] + left) & 255
                elif f == 3:  # average
                    line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
                else:  # Paeth
                    up = prev[i]
                    ul = prev[i - ch] if i >= ch else 0
                    p = left + up - ul
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                    line[i] = (line[i] + (left if pa <= pb and pa <= pc else
                                          up if pb <= pc else ul)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def main():
    if len(sys.argv) != 4:
        fail("usage: render_check.py PAGE.html DOM.html SCREENSHOT.png")
    page, dom, png = sys.argv[1:]
    src = plots_of(page)
    got = plots_of(dom)
    if not src.plots:
        fail("%s has no plots" % page)
    for pid, counts in src.plots.items():
        if pid not in got.plots:
            fail("plot %s is missing from the rendered DOM" % pid)
        if got.plots[pid] != counts:
            fail("plot %s: rendered %s, page %s" % (pid, got.plots[pid], counts))
    if set(got.plots) != set(src.plots):
        fail("the rendered DOM has other plots: %s" % sorted(set(got.plots) - set(src.plots)))
    print("dom: %d plots, %d data lines, as in the page" %
          (len(got.plots), sum(c["series"] for c in got.plots.values())))

    w, h, ch, rows = read_png(png)
    want = {}
    for c in src.colours:
        m = re.fullmatch(r"#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})", c)
        if m:
            want[c] = tuple(int(x, 16) for x in m.groups())
    # count each distinct colour once, then compare the few distinct ones with the wanted ones
    counts = Counter()
    for row in rows:
        counts.update(row[x:x + 3] for x in range(0, w * ch, ch))
    hits = {c: 0 for c in want}
    ink = 0
    for rgb, n in counts.items():
        r, g, b = rgb
        if r < 235 or g < 235 or b < 235:
            ink += n
        for c, (cr, cg, cb) in want.items():
            if abs(r - cr) <= 6 and abs(g - cg) <= 6 and abs(b - cb) <= 6:
                hits[c] += n
    if ink < 0.01 * w * h:
        fail("%s is almost blank (%d non-white pixels of %d)" % (png, ink, w * h))
    for c, n in sorted(hits.items()):
        if n < 40:
            fail("%s: the data colour %s covers only %d pixels" % (png, c, n))
    print("screenshot: %dx%d, %.1f%% ink; data colours: %s" %
          (w, h, 100.0 * ink / (w * h), ", ".join("%s %d px" % kv for kv in sorted(hits.items()))))


if __name__ == "__main__":
    main()
