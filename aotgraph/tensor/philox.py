"""Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the numpy reference.

A stream's state is two uint64 words, ``[key, counter]``: block ``counter + b`` of the stream is Philox
applied to the 128-bit counter ``(counter + b, 0)`` under the 64-bit key. A draw that needs ``w`` 32-bit
words takes the next ``ceil(w / 4)`` blocks and advances the counter by as many, so a draw's numbers
depend on the state alone, never on how (or on how many threads) they are computed. The compiled kernel
(aotgraph/codegen/random_kernel.py) renders the same rounds with the constants below, and the same bit
conversions to floats; tests check the two bit for bit and against Random123's known answers.
"""

from __future__ import annotations

import numpy as np

MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
KEY_BUMPS = (0x9E3779B9, 0xBB67AE85)
ROUNDS = 10
WORDS_PER_BLOCK = 4
STATE_SIZE = 2  # [key, counter]
_MASK32 = np.uint64(0xFFFFFFFF)


def philox_rounds(counter: tuple, key: tuple) -> tuple:
    """Philox4x32-10 of uint64 arrays holding 32-bit words: 4 counter words, 2 key words -> 4 output words."""
    x0, x1, x2, x3 = (np.asarray(c, np.uint64) & _MASK32 for c in counter)
    k0, k1 = (int(k) & 0xFFFFFFFF for k in key)
    m0, m1 = np.uint64(MULTIPLIERS[0]), np.uint64(MULTIPLIERS[1])
    shift = np.uint64(32)
    for _ in range(ROUNDS):
        p0 = m0 * x0
        p1 = m1 * x2
        x0, x1, x2, x3 = ((p1 >> shift) ^ x1 ^ np.uint64(k0), p1 & _MASK32,
                          (p0 >> shift) ^ x3 ^ np.uint64(k1), p0 & _MASK32)
        k0 = (k0 + KEY_BUMPS[0]) & 0xFFFFFFFF
        k1 = (k1 + KEY_BUMPS[1]) & 0xFFFFFFFF
    return x0, x1, x2, x3


def blocks_for(words: int) -> int:
    """How many blocks (and counter steps) a draw of `words` 32-bit words takes."""
    return -(-int(words) // WORDS_PER_BLOCK)


def stream_words(state: np.ndarray, words: int) -> np.ndarray:
    """The next `words` 32-bit words of the stream (as uint64 holding 32 bits each), in block order."""
    key, counter = int(state[0]), int(state[1])
    blocks = np.arange(blocks_for(words), dtype=np.uint64) + np.uint64(counter)  # wraps modulo 2**64
    out = philox_rounds((blocks & _MASK32, blocks >> np.uint64(32), 0, 0), (key, key >> 32))
    return np.stack(out, axis=-1).reshape(-1)[:words]


def advanced(state: np.ndarray, words: int) -> np.ndarray:
    """The state after a draw of `words` words (the counter moved past the blocks it used)."""
    new = np.array(state, dtype=np.uint64, copy=True)
    new[1] = np.uint64((int(new[1]) + blocks_for(words)) % 2**64)
    return new


def words_per_uniform(dtype: str) -> int:
    """float64 uniforms take two words (52 random bits), float32 ones one word (23 random bits)."""
    return 2 if dtype == "float64" else 1


def uniform_from_words(words: np.ndarray, dtype: str) -> np.ndarray:
    """Uniforms in the open interval (0, 1): (k + 1/2) / 2**52 (float64) or / 2**23 (float32), exactly.

    Computed as (1 + k / 2**52) - (1 - 2**-53): both operands and the difference are exact (Sterbenz), so
    the compiled kernel, which does the same with a bit cast, gives the same bits.
    """
    if dtype == "float64":
        high, low = words[0::2], words[1::2]
        mantissa = ((high >> np.uint64(12)) << np.uint64(32)) | low
        ones = (mantissa | np.uint64(0x3FF0000000000000)).view(np.float64)
        return ones - (1.0 - 2.0**-53)
    mantissa = (words >> np.uint64(9)).astype(np.uint32) | np.uint32(0x3F800000)
    return mantissa.view(np.float32) - np.float32(1.0 - 2.0**-24)


def uniforms(state: np.ndarray, count: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(`count` uniforms in (0, 1) of `dtype`, the state after them): the reference of the compiled draw."""
    words = count * words_per_uniform(dtype)
    return uniform_from_words(stream_words(state, words), dtype), advanced(state, words)


def stream_state(seed: int, index: int) -> np.ndarray:
    """The initial state of stream number `index` of a generator seeded with `seed`: its key is a Philox
    block of the index under the seed, so streams of one seed are unrelated and each starts at counter 0."""
    seed = int(seed) % 2**64
    words = philox_rounds((index & 0xFFFFFFFF, (index >> 32) & 0xFFFFFFFF, 0x5EED, 0), (seed, seed >> 32))
    key = (int(words[0]) << 32) | int(words[1])
    return np.array([key, 0], dtype=np.uint64)
