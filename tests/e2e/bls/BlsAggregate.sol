// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Checks an aggregate BLS signature over one message (FastAggregateVerify of the IETF BLS
/// signature draft, proof-of-possession scheme: public keys in G1, signatures in G2) with
/// the EIP-2537 precompiles. The message is hashed to G2 on chain: expand_message_xmd with
/// SHA-256, two Fp2 elements reduced mod p (MODEXP), each mapped by MAP_FP2_TO_G2 (which
/// clears the cofactor, a homomorphism, so the sum of the mapped points is hash_to_curve's
/// answer) and added with G2ADD. Points use EIP-2537's encoding: 64-byte big-endian field
/// elements, an Fp2 element c0 then c1, infinity all zeros.
contract BlsAggregate {
    address constant G1ADD = address(0x0b);
    address constant G2ADD = address(0x0d);
    address constant PAIRING_CHECK = address(0x0f);
    address constant MAP_FP2_TO_G2 = address(0x11);
    address constant MODEXP = address(0x05);

    bytes constant DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    // p, the base field modulus, in 64 bytes
    bytes constant P = hex"000000000000000000000000000000001a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab";
    // -G1, the negated generator of G1
    bytes constant NEG_G1 = hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb00000000000000000000000000000000114d1d6855d545a8aa7d76c8cf2e21f267816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca";

    error PrecompileFailed(address precompile);

    /// True when ``signature`` (a G2 point) is the aggregate of the signatures of
    /// ``message`` by the holders of ``publicKeys`` (G1 points, 128 bytes each).
    function verify(bytes[] calldata publicKeys, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        bytes memory aggregate = publicKeys[0];
        for (uint256 i = 1; i < publicKeys.length; i++) {
            aggregate = call(G1ADD, bytes.concat(aggregate, publicKeys[i]));
        }
        bytes memory input = bytes.concat(aggregate, hashToG2(message), NEG_G1, signature);
        return abi.decode(call(PAIRING_CHECK, input), (bool));
    }

    /// hash_to_curve(message) in G2 (BLS12381G2_XMD:SHA-256_SSWU_RO_ with this DST).
    function hashToG2(bytes calldata message) public view returns (bytes memory) {
        bytes memory uniform = expandMessage(message);
        bytes memory u0 = bytes.concat(field(uniform, 0), field(uniform, 64));
        bytes memory u1 = bytes.concat(field(uniform, 128), field(uniform, 192));
        return call(G2ADD, bytes.concat(call(MAP_FP2_TO_G2, u0), call(MAP_FP2_TO_G2, u1)));
    }

    /// expand_message_xmd(message, DST, 256) with SHA-256.
    function expandMessage(bytes calldata message) internal pure returns (bytes memory out) {
        bytes memory dstPrime = bytes.concat(DST, bytes1(uint8(DST.length)));
        bytes32 b0 = sha256(bytes.concat(new bytes(64), message, hex"0100", hex"00", dstPrime));
        bytes32 bi = sha256(bytes.concat(b0, hex"01", dstPrime));
        out = bytes.concat(bi);
        for (uint8 i = 2; i <= 8; i++) {
            bi = sha256(bytes.concat(b0 ^ bi, bytes1(i), dstPrime));
            out = bytes.concat(out, bi);
        }
    }

    /// The 64 bytes at ``offset`` of ``uniform`` as a number, reduced mod p (64 bytes).
    function field(bytes memory uniform, uint256 offset) internal view returns (bytes memory) {
        bytes memory chunk = new bytes(64);
        for (uint256 i = 0; i < 64; i++) {
            chunk[i] = uniform[offset + i];
        }
        // MODEXP(base = chunk, exponent = 1, modulus = p): lengths 64, 1, 64
        return call(MODEXP, bytes.concat(bytes32(uint256(64)), bytes32(uint256(1)), bytes32(uint256(64)), chunk, hex"01", P));
    }

    function call(address precompile, bytes memory input) internal view returns (bytes memory) {
        (bool ok, bytes memory output) = precompile.staticcall(input);
        if (!ok) revert PrecompileFailed(precompile);
        return output;
    }
}
