"""RFC 7748 X25519 test vectors (sections 5.2 and 6.1), checkable on CPython and on MicroPython."""

try:  # noqa: SIM105 - MicroPython has no contextlib
    from typing import Any
except ImportError:  # pragma: no cover - MicroPython only
    pass

# (scalar, u, X25519(scalar, u)), section 5.2
SCALAR_MULT = [
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
]
# k = u = 9, then k, u = X25519(k, u), k: k after 1 and 1000 iterations, section 5.2
ITERATED = {
    1: "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
    1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
}
# section 6.1
ALICE_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
BOB_PRIVATE = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
BOB_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"


def failures(scalarmult: "Any", iterations: int = 1000) -> "list[str]":
    """The vectors ``scalarmult(k, u) -> bytes`` gets wrong (empty when all pass)."""
    h = bytes.fromhex
    bad = []
    for i, (k, u, out) in enumerate(SCALAR_MULT):
        if scalarmult(h(k), h(u)).hex() != out:
            bad.append("5.2 vector " + str(i + 1))
    base = h("09" + "00" * 31)
    if scalarmult(h(ALICE_PRIVATE), base).hex() != ALICE_PUBLIC:
        bad.append("6.1 Alice public")
    if scalarmult(h(BOB_PRIVATE), base).hex() != BOB_PUBLIC:
        bad.append("6.1 Bob public")
    if scalarmult(h(ALICE_PRIVATE), h(BOB_PUBLIC)).hex() != SHARED:
        bad.append("6.1 shared (Alice)")
    if scalarmult(h(BOB_PRIVATE), h(ALICE_PUBLIC)).hex() != SHARED:
        bad.append("6.1 shared (Bob)")
    key = coord = base
    for n in range(1, iterations + 1):
        key, coord = scalarmult(key, coord), key
        if n in ITERATED and key.hex() != ITERATED[n]:
            bad.append("5.2 after " + str(n) + " iterations")
    return bad
