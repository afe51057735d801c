"""EXECUTE and the untrusted-input checks it shares with the node.

Importing the package makes pyrlp's list decoding linear in its input (see ``linear_rlp``):
EXECUTE decodes attacker-chosen RLP, and its cost must be linear in its input.
"""

from precompiles.linear_rlp import install as _install_linear_rlp

_install_linear_rlp()
