"""Osaka's numbers (each from its EIP)."""

from __future__ import annotations

# EIP-7939: count leading zeros.
CLZ_OPCODE = 0x1E
CLZ_GAS = 5  # G_low

# EIP-7951: secp256r1 signature verification.
P256VERIFY_ADDRESS_INT = 0x100
P256VERIFY_GAS = 6900
P256VERIFY_INPUT_LENGTH = 160

# EIP-7823: each MODEXP length field at most 1024 bytes.
MODEXP_MAX_LENGTH = 1024
# EIP-7883: MODEXP's new floor.
MODEXP_MIN_GAS = 500

# EIP-7825: the transaction gas limit cap.
MAX_TX_GAS = 2**24

# EIP-7934: the block RLP size cap.
MAX_BLOCK_SIZE = 10_485_760
SAFETY_MARGIN = 2_097_152
MAX_RLP_BLOCK_SIZE = MAX_BLOCK_SIZE - SAFETY_MARGIN

# EIP-7918: the blob base fee is bounded below by the execution cost of a blob.
BLOB_BASE_COST = 2**13
GAS_PER_BLOB = 2**17
# Prague's blob schedule, which Osaka keeps (EIP-7691).
BLOB_TARGET = 6
BLOB_MAX = 9
BLOB_BASE_FEE_UPDATE_FRACTION = 5_007_716
MIN_BLOB_BASE_FEE = 1
