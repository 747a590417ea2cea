"""YAML from content files, read with limits. Knows no feature: SOP and checklist front matter, teams.yaml,
org.yaml and the holiday files all come through `load`.

`yaml.safe_load` refuses to run code but not to run away: 432 bytes of aliases (a "billion laughs") make
a structure of 9⁹ values that takes 37 s and 2.5 GB to print, and a value nested 5,000 deep ends in a
RecursionError. The loader counts while it composes the node graph, before anything is constructed:

- depth: how deep a value nests, an alias counting as deep as the value it names;
- nodes: how many values the document holds once every alias is expanded;
- aliases: how many `*name` references there are, and none may point into the value it sits in.

A date that does not exist (`2026-02-30`) stays text, so that the field's own check reports it.
"""
import yaml
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent

MAX_CHARS = 256 * 1024  # a front matter is a few hundred bytes; teams.yaml for 50 teams is about 20 KB
MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_ALIASES = 100


class LimitError(yaml.MarkedYAMLError):
    """A document past one of the limits; `problem_mark` is where it went past."""


class LimitedLoader(yaml.SafeLoader):
    """SafeLoader that refuses a document past MAX_DEPTH, MAX_NODES or MAX_ALIASES while composing it."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0  # depth of the node being composed (the document's root is 1)
        self._deepest = 0  # the deepest level reached inside the current node, aliases expanded
        self._nodes = 0  # nodes so far, an alias counting as every node of the value it names
        self._aliases = 0
        self._sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height) once its value is complete

    # The scanner nests before the composer sees anything, and its simple-key bookkeeping is quadratic in the
    # nesting (5,000 '[' took 1.1 s): refuse deep flow collections and deep block indentation as they open.
    def fetch_flow_collection_start(self, TokenClass):
        if self.flow_level >= MAX_DEPTH:
            raise LimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column):
        if len(self.indents) >= MAX_DEPTH:
            raise LimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        return super().add_indent(column)

    def compose_document(self):
        self._sizes = {}
        return super().compose_document()

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            self._count_alias(self.peek_event())
            return super().compose_node(parent, index)
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise LimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._add_nodes(1, event.start_mark)
        outer_deepest, self._deepest = self._deepest, self._depth
        start = self._nodes - 1
        node = super().compose_node(parent, index)
        if event.anchor is not None:
            self._sizes[event.anchor] = (self._nodes - start, self._deepest - self._depth + 1)
        self._deepest = max(outer_deepest, self._deepest)
        self._depth -= 1
        return node

    def _count_alias(self, event) -> None:
        if event.anchor not in self.anchors:
            return  # the composer reports an undefined alias itself
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise LimitError(None, None, f"more than {MAX_ALIASES} aliases (*name)", event.start_mark)
        if event.anchor not in self._sizes:
            raise LimitError(None, None, f"alias *{event.anchor} is inside the value it names", event.start_mark)
        nodes, height = self._sizes[event.anchor]
        if self._depth + height > MAX_DEPTH:
            raise LimitError(None, None, f"nested deeper than {MAX_DEPTH} levels (through *{event.anchor})",
                             event.start_mark)
        self._deepest = max(self._deepest, self._depth + height)
        self._add_nodes(nodes, event.start_mark)

    def _add_nodes(self, n: int, mark) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise LimitError(None, None, f"more than {MAX_NODES:,} values once aliases are expanded", mark)

    def construct_object(self, node, deep=False):
        # An explicit tag on a bad value (`!!int abc`, `!!timestamp x`) raises a plain Python error: give it a line.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, AttributeError, OverflowError) as e:
            raise ConstructorError(None, None, f"cannot read this value ({e})", node.start_mark) from None

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:  # 2026-02-30 looks like a date but is none: the field's check reports the text
            return self.construct_scalar(node)


LimitedLoader.add_constructor("tag:yaml.org,2002:timestamp", LimitedLoader.construct_yaml_timestamp)


def load(text: str, max_chars: int = MAX_CHARS):
    """Parse one YAML document within the limits; raise yaml.YAMLError (with `problem_mark` where known)."""
    if len(text) > max_chars:
        raise LimitError(None, None, f"{len(text):,} characters of YAML; the limit is {max_chars:,}", None)
    loader = LimitedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def error_line(e: yaml.YAMLError, first_line: int = 1) -> int:
    """The 1-based line of a YAML error in a file whose YAML starts at first_line."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    return mark.line + first_line if mark else first_line


def error_reason(e: yaml.YAMLError) -> str:
    return getattr(e, "problem", None) or str(e).split("\n")[0]
