#!/usr/bin/env bash
# Builds the book (docs/, mdBook) into docs/book/ and checks its links; a
# stage of scripts/test.sh (a few seconds).
#
#   scripts/docs-check.sh
#
# 1. mdbook build docs, with the mdbook version scripts/deps.sh pins
#    (deps_mdbook installs it from crates.io when it is missing).
# 2. Every page of the built book: each relative href and src names a file
#    of the book, and each #fragment an id (or name) on the page it points
#    to; external links (http:, https:, mailto:) are not followed. No
#    {{#include ...}} is left unexpanded.
# 3. README.md: each relative link names a file of the repository, and a
#    link into docs/src/*.md with a #fragment names an id of the built page.
#
# Exits non-zero and lists every broken link (file, target, why).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

want=$(sed -n 's/^MDBOOK_VERSION=//p' scripts/deps.sh)
if [ "$(mdbook --version 2>/dev/null)" != "mdbook v$want" ]; then
    # deps.sh installs its Debian packages when sourced (only those missing).
    source scripts/deps.sh
    deps_mdbook
fi

rm -rf docs/book
mdbook build docs

python3 - docs/book README.md <<'PYTHON'
"""The link check of scripts/docs-check.sh (see there)."""
import html.parser
import os
import re
import sys
import urllib.parse

book, readme = sys.argv[1], sys.argv[2]
EXTERNAL = ("http:", "https:", "mailto:", "data:", "javascript:", "//")


class Page(html.parser.HTMLParser):
    """The ids of a page and the links it makes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and tag != "meta":
                self.ids.add(value)
            if name in ("href", "src") and tag != "base":
                self.links.append(value)


pages = {}


def page(path):
    path = os.path.normpath(path)
    if path not in pages:
        p = Page()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        p.feed(text)
        p.text = text
        pages[path] = p
    return pages[path]


problems = []


def check_target(source, origin_dir, link, root_ok):
    """A relative link from a file in origin_dir: the file, and the fragment's id."""
    parts = urllib.parse.urlsplit(link)
    target, fragment = urllib.parse.unquote(parts.path), urllib.parse.unquote(parts.fragment)
    path = os.path.normpath(os.path.join(origin_dir, target)) if target else source
    if target.endswith("/") or os.path.isdir(path):
        path = os.path.join(path, "index.html")
    if not root_ok(path):
        problems.append(f"{source}: {link}: outside the book")
        return
    if not os.path.isfile(path):
        problems.append(f"{source}: {link}: no such file ({path})")
        return
    if fragment and path.endswith(".html") and fragment not in page(path).ids:
        problems.append(f"{source}: {link}: no id {fragment!r} in {path}")


in_book = lambda p: os.path.commonpath([os.path.abspath(p), os.path.abspath(book)]) == os.path.abspath(book)
count = 0
for directory, _, files in os.walk(book):
    for name in files:
        if not name.endswith(".html"):
            continue
        source = os.path.join(directory, name)
        p = page(source)
        if "{{#include" in p.text:
            problems.append(f"{source}: an {{{{#include}}}} was not expanded")
        for link in p.links:
            if link.startswith(EXTERNAL) or link in ("", "#"):
                continue
            count += 1
            check_target(source, directory, link, in_book)

# README.md: relative links into the repository; fragments of links into
# the book's sources are looked up on the built page.
with open(readme, encoding="utf-8") as f:
    text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
for link in re.findall(r"\]\(([^)\s]+)\)", text):
    if link.startswith(EXTERNAL) or link.startswith("#"):
        continue
    count += 1
    parts = urllib.parse.urlsplit(link)
    target = urllib.parse.unquote(parts.path)
    if not os.path.exists(target):
        problems.append(f"{readme}: {link}: no such file")
        continue
    src = os.path.join("docs", "src") + os.sep
    if parts.fragment and target.startswith(src) and target.endswith(".md"):
        built = os.path.join(book, target[len(src):-3] + ".html")
        if not os.path.isfile(built):
            problems.append(f"{readme}: {link}: {target} is not a page of the book (not in SUMMARY.md?)")
        elif urllib.parse.unquote(parts.fragment) not in page(built).ids:
            problems.append(f"{readme}: {link}: no id {parts.fragment!r} in {built}")

if problems:
    print(f"docs-check: {len(problems)} broken link(s):", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    sys.exit(1)
print(f"docs-check: {count} links in {len(pages)} pages and README.md, none broken")
PYTHON
