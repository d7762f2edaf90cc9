"""The autograd engine: grad mode, custom differentiable functions, and reverse-mode backward.

Define-by-run. Every differentiable op is a `Function`; `Function.apply` runs its `forward` on NumPy
arrays and, when grad mode is on and some input requires grad, records a `Context` node holding the
input Tensors (`parents`) and whatever `forward` saved. Each output Tensor points at its node, so the
graph is the web of nodes reachable from a result.

`backward(root, grad)` walks that graph without recursion (a 10,000-op chain is fine):
  1. a depth-first pass counts, for every node, how many edges from other nodes of the graph reach it;
  2. Kahn's algorithm then runs each node's `backward` once all of its consumers have handed it their
     gradient, so every node sees its complete gradient exactly once (reverse topological order);
  3. gradients reaching a leaf (a Tensor with requires_grad and no node) are added to its `.grad`,
     which therefore accumulates across calls, as in PyTorch;
  4. each node drops its parents and saved arrays after use, so activations are freed as soon as
     backward has passed them (unless `retain_graph=True`); a second backward through a freed graph
     raises RuntimeError.

The engine also sums a gradient over broadcast dimensions to its input's shape and casts it to the
input's dtype, so every op (and every user-written Function) may return broadcast-shaped gradients.
"""
import functools
import threading

import numpy as np

from nnx._C.switch import AttributeSwitch
from nnx.tensor import Tensor, _wrap


class _GradState(threading.local):
    """The grad mode, one per thread (as PyTorch's): a thread running `predict` under `no_grad`
    leaves another thread's training alone. A new thread starts with grad enabled."""
    enabled = True


_state = _GradState()


def is_grad_enabled():
    return _state.enabled


def set_grad_enabled(mode):
    """Switch recording on or off for the calling thread."""
    _state.enabled = bool(mode)


class _GradMode(AttributeSwitch):
    """Base of `no_grad` / `enable_grad`: a context manager that is also a decorator.

    Entering and leaving are compiled (`AttributeSwitch`), so a Ctrl-C cannot land between leaving
    the block and restoring the previous mode: the KeyboardInterrupt arrives with the mode restored."""
    mode = True

    def __init__(self):
        super().__init__(_state, "enabled", self.mode)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():  # a fresh instance per call, so recursive calls restore correctly
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """`with nnx.no_grad():` (or `@nnx.no_grad()`) runs ops without recording a graph."""
    mode = False


class enable_grad(_GradMode):
    """Turns recording back on inside a `no_grad` block."""
    mode = True


class Context:
    """The graph node of one op call, handed to `forward` and `backward` as `ctx`.

    Holds the op (`fn`), the forward arguments (`parents`: the args tuple itself; the engine follows
    only its Tensors), the arrays saved by `save_for_backward`, and any attribute forward sets
    (`ctx.k = 3`). `recording`, set before forward runs, says whether the graph records this call
    (grad mode on and some Tensor argument requiring grad): when it is False backward never runs, so
    forward may skip what only backward reads."""
    __slots__ = ("fn", "parents", "saved_tensors", "n_outputs", "output_meta", "recording", "__dict__")

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    @property
    def needs_input_grad(self):
        """One bool per forward argument: does backward need that input's gradient?"""
        return tuple([isinstance(p, Tensor) and p.requires_grad for p in self.parents])

    def _free(self):
        self.parents = None
        self.saved_tensors = ()
        self.__dict__.clear()


class Function:
    """Base class of differentiable ops (PyTorch style).

    Subclasses define `forward(ctx, *args)` on NumPy arrays (Tensor arguments arrive as their `.data`;
    anything else passes through) returning an array or a tuple of arrays, and
    `backward(ctx, *grads)` returning one gradient per forward argument (None where there is none).
    Call `YourOp.apply(*args)`, which returns Tensor(s)."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        # The hot path of every op: keep it to plain loops and slot assignments.
        track = False
        arrays = []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if a.requires_grad:
                    track = True
            else:
                arrays.append(a)
        ctx = _new(Context)
        ctx.saved_tensors = ()
        ctx.recording = recording = track and _state.enabled
        out = cls.forward(ctx, *arrays)
        if not recording:
            if type(out) is tuple:
                return tuple([_wrap(o, False, None) for o in out])
            return _wrap(out, False, None)
        ctx.fn = cls
        ctx.parents = args  # the engine skips the non-Tensor entries
        if type(out) is tuple:
            ctx.n_outputs = len(out)
            results = tuple([_wrap(o, True, ctx) for o in out])
            for i, r in enumerate(results):
                r._index = i
            ctx.output_meta = tuple([(r.data.shape, r.data.dtype) for r in results])
            return results
        ctx.n_outputs = 1
        return _wrap(out, True, ctx)


_new = object.__new__


def _sum_to_shape(grad, shape, node):
    """Reduce a broadcast gradient to `shape` (the input's shape)."""
    extra = grad.ndim - len(shape)
    if extra < 0:
        grad = grad.reshape(shape)
    else:
        if extra:
            grad = grad.sum(axis=tuple(range(extra)))
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        raise RuntimeError(f"{node.fn.__name__}.backward returned a gradient of shape {grad.shape} "
                           f"for an input of shape {shape}")
    return grad


_hooked_leaves = 0   # how many leaves carry grad-ready hooks; 0 keeps the engine's loop lean


class _HookHandle:
    def __init__(self, tensor, hook):
        self.tensor, self.hook = tensor, hook

    def remove(self):
        global _hooked_leaves
        hooks = self.tensor.__dict__.get("_grad_ready_hooks", [])
        if self.hook in hooks:
            hooks.remove(self.hook)
            _hooked_leaves -= 1


def register_grad_ready_hook(tensor, hook):
    """Call `hook(tensor)` during `backward`, as soon as the leaf `tensor`'s `.grad` is complete for
    that pass (every node that feeds it has run), while the engine goes on with the rest of the graph.
    Data-parallel training uses it to start communicating a gradient before backward ends.
    Returns a handle whose `remove()` unregisters the hook."""
    global _hooked_leaves
    if not isinstance(tensor, Tensor) or tensor._node is not None or not tensor.requires_grad:
        raise ValueError("register_grad_ready_hook: expects a leaf Tensor that requires grad")
    tensor.__dict__.setdefault("_grad_ready_hooks", []).append(hook)
    _hooked_leaves += 1
    return _HookHandle(tensor, hook)


def _accumulate_leaf(leaf, grad, fresh):
    """Add `grad` to `leaf.grad`. A gradient that may be shared (a view, or passed through unchanged
    from upstream) is copied before it is stored, so no two `.grad`s alias one buffer."""
    if leaf.grad is None:
        leaf.grad = grad if fresh and grad.flags.owndata else np.array(grad)
    else:
        leaf.grad = leaf.grad + grad


def backward(root, grad=None, retain_graph=False):
    """Back-propagate from Tensor `root`; see the module docstring for the algorithm."""
    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no graph "
                           "(was it computed under no_grad, or from inputs without requires_grad?)")
    data = root.data
    if grad is None:
        if data.size != 1:
            raise ValueError(f"backward: grad can be omitted only for a scalar (1-element) tensor, got "
                             f"shape {data.shape}; pass grad= of that shape")
        grad = np.ones(data.shape, data.dtype)
    else:
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=data.dtype)
        if grad.shape != data.shape:
            raise ValueError(f"backward: grad shape {grad.shape} does not match the tensor's shape "
                             f"{data.shape}")
    root_node = root._node
    if root_node is None:
        _accumulate_leaf(root, grad, False)
        return

    # 1. count the graph edges into every node (and into hooked leaves, when there are any)
    consumers = {root_node: 0}
    hooked = {} if _hooked_leaves else None     # id(leaf) -> edges still to come
    stack = [root_node]
    while stack:
        parents = stack.pop().parents
        if parents is None:
            raise RuntimeError("backward: trying to backward through the graph a second time (its "
                               "saved arrays were freed); pass retain_graph=True to the first call")
        for p in parents:
            if isinstance(p, Tensor):
                node = p._node
                if node is not None:
                    if node in consumers:
                        consumers[node] += 1
                    else:
                        consumers[node] = 1
                        stack.append(node)
                elif hooked is not None and p.__dict__.get("_grad_ready_hooks"):
                    hooked[id(p)] = hooked.get(id(p), 0) + 1

    # 2. run the nodes in reverse topological order
    pending = {}
    _add_pending(pending, root_node, root, grad)
    ready = [root_node]
    while ready:
        node = ready.pop()
        parents = node.parents
        upstream = pending.pop(node, None)
        if upstream is None:
            grads = (None,) * len(parents)
        else:
            if node.n_outputs == 1:
                grads = node.fn.backward(node, upstream)
            else:
                upstream = [np.zeros(s, d) if g is None else g
                            for g, (s, d) in zip(upstream, node.output_meta)]
                grads = node.fn.backward(node, *upstream)
            if type(grads) is not tuple:
                grads = (grads,)
            if len(grads) != len(parents):
                raise RuntimeError(f"{node.fn.__name__}.backward returned {len(grads)} gradients for "
                                   f"{len(parents)} forward arguments")
        for p, g in zip(parents, grads):
            if not isinstance(p, Tensor):
                continue
            parent_node = p._node
            if g is not None and p.requires_grad:
                pdata = p.data
                if type(g) is not np.ndarray:
                    g = np.asarray(g.data if isinstance(g, Tensor) else g)
                if g.shape != pdata.shape:
                    g = _sum_to_shape(g, pdata.shape, node)
                if g.dtype != pdata.dtype:
                    g = g.astype(pdata.dtype)
                if parent_node is None:
                    _accumulate_leaf(p, g, not _is_shared(g, upstream, grads))
                else:
                    _add_pending(pending, parent_node, p, g)
            if parent_node is not None:
                consumers[parent_node] -= 1
                if consumers[parent_node] == 0:
                    ready.append(parent_node)
            elif hooked and id(p) in hooked:
                hooked[id(p)] -= 1
                if hooked[id(p)] == 0:
                    for hook in list(p._grad_ready_hooks):
                        hook(p)
        if not retain_graph:
            node._free()


def _is_shared(g, upstream, grads):
    """Is `g` passed through from upstream, or handed to more than one input of the node?"""
    if g is upstream or (type(upstream) is list and any(g is u for u in upstream)):
        return True
    return len(grads) > 1 and sum(1 for other in grads if other is g) > 1


def _add_pending(pending, node, tensor, grad):
    """Sum the gradients arriving at one output of `node` (never in place: they may be shared)."""
    if node.n_outputs == 1:
        previous = pending.get(node)
        pending[node] = grad if previous is None else previous + grad
    else:
        slots = pending.get(node)
        if slots is None:
            slots = pending[node] = [None] * node.n_outputs
        i = tensor._index
        slots[i] = grad if slots[i] is None else slots[i] + grad
