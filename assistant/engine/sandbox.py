"""A bounded Jinja sandbox for chat templates, which come from strangers (a GGUF off the Hub, a file).

Jinja's ``ImmutableSandboxedEnvironment`` blocks attribute escapes and mutation, but not work: a
template may double a string forty times, loop 10^10 times or recurse until Python gives up. Here
every render runs under a :class:`Budget` (a deadline, a largest value, a total of characters
produced, a call depth and an output size) checked *as it renders*, in the hooks Jinja's sandbox
already routes through (calls, binary operators, attribute and item access), in every filter, at
every step of every ``{% for %}`` loop (the parsed template is rewritten so its iterables pass
through a guard), in every buffer join (macro bodies, ``{% set %}`` blocks, ``~``) and per chunk of
output. Nothing uses signals, so the bound holds on any thread (the app renders off the main one).

The budget lives in a thread-local, so one environment may render on several threads at once.
A breach raises :class:`Breach`; ``template.py`` turns it into one sentence naming the template.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context
from jinja2.visitor import NodeTransformer

RENDER_SECONDS = 2.0  # wall-clock bound on one render (and on compiling its constants)
MAX_DEPTH = 50  # nested calls (macros calling macros, recursive loops)
MAX_INT_BITS = 1 << 16  # integers a template computes (2**N, repeated squaring)
MAX_TEMPLATE_CHARS = 256 * 1024  # real chat templates are a few KB; parsing is not interruptible
WORK_FACTOR = 32  # characters produced by all operations of one render, in units of its output cap

_DIGITS = re.compile(r"\d+")
_NESTED_FIELD = re.compile(r"\{[^{}]*\{")
# str/bytes methods whose result can be much larger than the object and its arguments
_GROWING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "format",
                              "format_map", "translate"})


_SEQUENCES = (str, bytes, list, tuple)


class Breach(Exception):
    """A render went past its budget: ``kind`` is "time", "size" or "depth"."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


@dataclass
class Budget:
    seconds: float
    max_value: int  # largest string (characters) or list (items) any operation may make
    max_output: int  # characters the render may emit
    max_work: int  # characters all operations together may produce
    max_depth: int = MAX_DEPTH
    deadline: float = 0.0
    work: int = 0
    depth: int = 0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    @classmethod
    def for_output(cls, max_output: int, seconds: float = RENDER_SECONDS) -> Budget:
        return cls(seconds, max_output, max_output, max_output * WORK_FACTOR)

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise Breach("time")

    def size(self, n: int) -> None:
        if n > self.max_value:
            raise Breach("size")

    def produced(self, value: Any) -> None:
        """Account for a value an operation returned (its characters count against the work total)."""
        if isinstance(value, (str, bytes)):
            n = len(value)
            if n > self.max_value:
                raise Breach("size")
            self.work += n
            if self.work > self.max_work:
                raise Breach("size")
        elif isinstance(value, (list, tuple, dict, set, frozenset)):
            if len(value) > self.max_value:
                raise Breach("size")
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise Breach("size")


class _State(threading.local):
    budget: Budget | None = None


STATE = _State()


def measure(value: Any, limit: int) -> int:
    """About how many characters ``str(value)`` would take, counting no further than ``limit``."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 1
    if not isinstance(value, (list, tuple, dict, set, frozenset)):
        return 16
    total = 0
    stack: list[Any] = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + 4
        elif isinstance(item, (list, tuple, dict, set, frozenset)):
            if id(item) in seen:
                total += 5
                continue
            seen.add(id(item))
            total += 2
            stack.extend(item.items() if isinstance(item, dict) else item)
        else:
            total += 16
        if total > limit:
            return total
    return total


def _check_format(fmt: str, args: Iterable[Any], b: Budget) -> None:
    """``"%1000000000d" % 1``, ``"{:>999999999}".format(x)``: widths and arguments within the cap."""
    est = len(fmt) + sum(int(d) if len(d) < 12 else 1 << 40 for d in _DIGITS.findall(fmt))
    widths_from_args = "*" in fmt or _NESTED_FIELD.search(fmt) is not None  # "%*d", "{0:{1}}"
    for arg in args:
        est += measure(arg, b.max_value)
        if widths_from_args and isinstance(arg, int) and not isinstance(arg, bool):
            est += abs(arg)
    b.size(est)


def _precheck_method(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], b: Budget) -> tuple[Any, ...]:
    """Estimate the result of a growing str/bytes method before Python allocates it."""
    n = len(obj)
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        if isinstance(width, int):
            b.size(max(n, width))
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            b.size(n + obj.count("\t" if isinstance(obj, str) else b"\t") * max(size, 0))
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, type(obj)) and isinstance(new, type(obj)):
            count = obj.count(old) if old else n + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            b.size(n + count * max(0, len(new) - len(old)))
    elif name == "join" and args:
        items = list(args[0])
        b.size(sum(measure(x, b.max_value) for x in items) + n * len(items))
        return (items, *args[1:])
    elif name in ("format", "format_map"):
        _check_format(obj if isinstance(obj, str) else "", [*args, *kwargs.values()], b)
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((measure(v, b.max_value) for v in args[0].values()), default=1)
        b.size(n * max(longest, 1))
    return args


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the deadline, pre-checks the filters that multiply sizes, and accounts
    for its result."""
    pass_arg = getattr(func, "jinja_pass_arg", None)
    skip = 1 if pass_arg is not None else 0  # the context/eval-context/environment argument

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        b = STATE.budget
        if b is None:
            return func(*args, **kwargs)
        b.tick()
        value = args[skip] if len(args) > skip else None
        rest = args[skip + 1:]
        if name in ("center", "indent", "wordwrap", "replace", "format", "join", "batch", "slice", "tojson",
                    "string", "pprint", "sum", "list", "truncate", "xmlattr", "urlize", "striptags", "unique",
                    "sort", "dictsort", "map", "select", "reject", "selectattr", "rejectattr", "groupby"):
            args = _precheck_filter(name, value, rest, kwargs, b, args, skip)
        result = func(*args, **kwargs)
        b.produced(result)
        return result

    return guarded


def _precheck_filter(name: str, value: Any, rest: tuple[Any, ...], kwargs: dict[str, Any], b: Budget,
                     args: tuple[Any, ...], skip: int) -> tuple[Any, ...]:
    def arg(i: int, key: str, default: Any) -> Any:
        return rest[i] if len(rest) > i else kwargs.get(key, default)

    text_len = measure(value, b.max_value)
    if name == "center":
        width = arg(0, "width", 80)
        if isinstance(width, int):
            b.size(max(text_len, width))
    elif name == "indent":
        width = arg(0, "width", 4)
        unit = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
        lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
        b.size(text_len + lines * max(unit, 0))
    elif name == "wordwrap":
        width = arg(0, "width", 79)
        wrap = arg(2, "wrapstring", None)
        pieces = text_len // max(width, 1) + 1 if isinstance(width, int) else text_len
        b.size(text_len + pieces * (len(wrap) if isinstance(wrap, str) else 1))
    elif name == "replace":
        old, new = arg(0, "old", ""), arg(1, "new", "")
        if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
            count = value.count(old) if old else len(value) + 1
            b.size(len(value) + count * max(0, len(new) - len(old)))
    elif name == "format":
        _check_format(value if isinstance(value, str) else "", [*rest, *kwargs.values()], b)
    elif name in ("batch", "slice"):
        count = arg(0, "linecount" if name == "batch" else "slices", 1)
        if isinstance(count, int):
            b.size(abs(count))
        if not isinstance(value, (str, list, tuple, dict)) and value is not None:
            value = list(value)
            b.size(len(value))
            args = (*args[:skip], value, *rest)
    elif name == "tojson":
        indent = arg(0, "indent", None)
        if isinstance(indent, int) and indent > 64:
            raise Breach("size")
        b.size(measure(value, b.max_value) * (2 if indent else 1))
    elif name in ("join", "sum", "list", "unique", "sort", "dictsort", "groupby"):
        if value is not None and not isinstance(value, (str, bytes, list, tuple, dict)):
            value = list(_bounded_items(value, b))
            args = (*args[:skip], value, *rest)
        if name == "join":
            sep = arg(0, "d", "")
            n = len(value) if isinstance(value, (list, tuple, str, dict)) else 1
            b.size(measure(value, b.max_value) + n * (len(sep) if isinstance(sep, str) else 16))
        else:
            b.size(measure(value, b.max_value))
    else:  # string, pprint, truncate, xmlattr, urlize, striptags: linear in the value
        b.size(text_len)
    return args


def _bounded_items(iterable: Iterable[Any], b: Budget) -> Iterator[Any]:
    for i, item in enumerate(iterable):
        if i > b.max_value:
            raise Breach("size")
        if not i & 255:
            b.tick()
        yield item


@pass_context
def _loop_guard(_context: Any, iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: the deadline is checked at each step."""
    b = STATE.budget
    if b is None:
        yield from iterable
        return
    for item in iterable:
        if time.monotonic() > b.deadline:
            raise Breach("time")
        yield item


_LOOP_GUARD = "__bounded_loop"
_ADD_GUARD = "__bounded_add"


def _bounded_add(left: Any, right: Any) -> Any:
    b = STATE.budget
    if b is not None:
        b.tick()
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            b.size(len(left) + len(right))
    result = left + right
    if b is not None:
        b.produced(result)
    return result


class _Guards(NodeTransformer):
    """Route every for-loop's iterable through the loop guard, and every ``a + b`` whose sides are
    both computed through the size guard (a constant side grows a value by no more than the source)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _LOOP_GUARD, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Add(self, node: nodes.Add) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node.left, nodes.Const) or isinstance(node.right, nodes.Const):
            return node
        return nodes.Filter(node.left, _ADD_GUARD, [node.right], [], None, None, lineno=node.lineno)


def _joiner(join: Callable[[Any], str], stringify: bool) -> Callable[[Any], str]:
    def guarded_join(seq: Any) -> str:
        b = STATE.budget
        if b is None:
            return join(seq)
        items = seq if isinstance(seq, (list, tuple)) else list(_bounded_items(seq, b))
        total = 0
        for item in items:
            total += len(item) if type(item) is str else measure(item, b.max_value) if stringify else len(str(item))
            if total > b.max_value:
                raise Breach("size")
        b.work += total
        if b.work > b.max_work:
            raise Breach("size")
        return join(items)

    return guarded_join


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` whose every render is bounded by the thread's :class:`Budget`."""

    # "+" is guarded by rewriting the parsed template instead (only where both sides are computed):
    # intercepting it here would cost a call per "+" of every ChatML line.
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.filters = {name: _guard_filter(name, func) for name, func in FILTERS.items()}
        self.filters[_LOOP_GUARD] = _loop_guard
        self.filters[_ADD_GUARD] = _bounded_add
        self.concat = _joiner("".join, False)  # type: ignore[method-assign]
        lipsum = self.globals.get("lipsum")
        if lipsum is not None:
            self.globals["lipsum"] = functools.partial(_bounded_lipsum, lipsum)  # type: ignore[arg-type]

    # -- compiling ------------------------------------------------------------------------------
    def compile_bounded(self, source: str, budget: Budget) -> Any:
        """Parse ``source``, route every for-loop through the guard, compile, and guard the joins."""
        if len(source) > MAX_TEMPLATE_CHARS:
            raise Breach("source")
        previous, STATE.budget = STATE.budget, budget
        try:
            tree = _Guards().visit(self.parse(source))
            template = self.from_string(tree)
        finally:
            STATE.budget = previous
        namespace = template.root_render_func.__globals__
        from jinja2.runtime import markup_join, str_join

        namespace["str_join"] = _joiner(str_join, True)
        namespace["markup_join"] = _joiner(markup_join, True)
        return template

    # -- the sandbox's hooks --------------------------------------------------------------------
    def _finalize(self, value: Any) -> Any:
        if type(value) is not str:
            b = STATE.budget
            if b is not None:
                b.size(measure(value, b.max_value))
        return value

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        b = STATE.budget
        if b is None:
            return super().call(__context, __obj, *args, **kwargs)
        b.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, (str, bytes)) and getattr(__obj, "__name__", "") in _GROWING_METHODS:
            args = _precheck_method(owner, __obj.__name__, args, kwargs, b)
        b.depth += 1
        try:
            if b.depth > b.max_depth:
                raise Breach("depth")
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            b.depth -= 1
        b.produced(result)
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        b = STATE.budget
        if b is not None:
            b.tick()
            _precheck_binop(operator, left, right, b)
        result = super().call_binop(context, operator, left, right)
        if b is not None:
            b.produced(result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            b = STATE.budget
            if b is not None:
                b.tick()
                extra = list(args[0].values()) if value.__name__ == "format_map" and args and isinstance(args[0], dict) else []
                _check_format(fmt, [*args, *kwargs.values(), *extra], b)
            result = wrapped(*args, **kwargs)
            if b is not None:
                b.produced(result)
            return result

        return bounded_format

    def getattr(self, obj: Any, attribute: str) -> Any:
        b = STATE.budget
        if b is not None and time.monotonic() > b.deadline:
            raise Breach("time")
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        b = STATE.budget
        if b is not None and time.monotonic() > b.deadline:
            raise Breach("time")
        result = super().getitem(obj, argument)
        if b is not None and isinstance(argument, slice):
            b.produced(result)
        return result


def _precheck_binop(operator: str, left: Any, right: Any, b: Budget) -> None:
    if operator == "*":
        if isinstance(left, _SEQUENCES) and isinstance(right, int):
            b.size(len(left) * right)
        elif isinstance(right, _SEQUENCES) and isinstance(left, int):
            b.size(len(right) * left)
        elif isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise Breach("size")
    elif operator == "**":
        if (isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
                and left.bit_length() * right > MAX_INT_BITS):
            raise Breach("size")
    elif operator == "+":
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            b.size(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_format(left, right if isinstance(right, tuple) else (right,), b)


def _bounded_lipsum(lipsum: Callable[..., Any], n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:  # noqa: A002
    b = STATE.budget
    if b is not None:
        if not all(isinstance(v, int) for v in (n, min, max)):
            raise Breach("size")
        b.size(abs(n) * abs(max) * 12)
    return lipsum(n, html, min, max)
