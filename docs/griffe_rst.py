"""Griffe extension for the API pages: the docstrings' reStructuredText simple tables (rows between lines of
``=====  =====``) are shown as preformatted text, since Markdown would run their lines together."""
import re

import griffe

_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")


def rst_tables_to_fences(text):
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if _RULE.match(lines[i]):
            # a simple table is three rules: top, under the header, bottom
            rules = [j for j in range(i, len(lines)) if _RULE.match(lines[j])][:3]
            end = rules[-1] if len(rules) == 3 else rules[-1]
            out += ["", "```text", *lines[i:end + 1], "```", ""]
            i = end + 1
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


class RSTTables(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None and "==" in obj.docstring.value:
            obj.docstring.value = rst_tables_to_fences(obj.docstring.value)
