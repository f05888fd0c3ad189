"""The differentiable fitting loop of the meta-learned inner loop (objective.adapt): steps on a pytree.

The encoder's refinement, which is not differentiated through, is core.encoder.refine.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

Array = jnp.ndarray


def fit(
    loss_fn: Callable[[object, jax.Array], Array],
    params: object,
    optimizer: optax.GradientTransformation,
    steps: int,
    key: jax.Array,
    opt_state: object | None = None,
) -> tuple[object, object, Array]:
    """Runs `steps` optimizer steps on `loss_fn(params, key)` with a fresh key per step.

    Written as a `lax.scan`, so it is differentiable (MAML differentiates through it) and jit-able.
    Pass the returned optimizer state back in to continue a fit in several calls.

    Returns:
      (fitted params, optimizer state, losses of shape (steps,) measured before each update).
    """
    if opt_state is None:
        opt_state = optimizer.init(params)
    if steps == 0:
        return params, opt_state, jnp.zeros((0,), jnp.float32)

    def step(carry, step_key):
        p, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(p, step_key)
        updates, state = optimizer.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), loss

    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), jax.random.split(key, steps))
    return params, opt_state, losses


def per_leaf_sgd(learning_rates: object) -> optax.GradientTransformation:
    """Plain SGD with one (possibly learned, differentiable) learning rate per leaf.

    `learning_rates` is a pytree with the same structure as the parameters, of scalars.
    """

    def update(grads, state, params=None):
        del params
        return jax.tree_util.tree_map(lambda g, lr: -lr * g, grads, learning_rates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
