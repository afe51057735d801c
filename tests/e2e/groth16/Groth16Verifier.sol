// SPDX-License-Identifier: MIT
// Copyright 2017 Christian Reitwiessner
// 2019 OKIMS
//
// Groth16 verifier, canonical `(a, b, c, input)` ABI — the general default for fresh
// deployments:
//   verifyProof(uint[2] a, uint[2][2] b, uint[2] c, uint[N] input) returns (bool)
//
// This is the argument shape `snarkjs zkey export solidityverifier` exposes. The pairing
// math reuses the same audited OKIMS Pairing library as the `bytes` style, so the two
// emitters share `verifyingKey()` and differ only in how `verifyProof` decodes its inputs.
//
// GENERAL over any BN254 Groth16 VK: `src/solidity.rs` parameterizes nPublic (the input +
// IC array sizes) and injects the VK constants into the verifyingKey() body.
//
// NOTE (§6): the `b` argument's G2 coordinates are in (c1, c0) word order — the same Fp2
// swap documented in encoding.rs — matching snarkjs's `exportSolidityCallData` and the
// §6b `bytes` layout, so a proof works verbatim across both styles.

pragma solidity ^0.8.24;

library Pairing {
    uint256 constant PRIME_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    struct G1Point {
        uint256 X;
        uint256 Y;
    }

    // Encoding of field elements is: X[0] * z + X[1]
    struct G2Point {
        uint256[2] X;
        uint256[2] Y;
    }

    /*
    * @return The negation of p, i.e. p.plus(p.negate()) should be zero.
    */
    function negate(G1Point memory p) internal pure returns (G1Point memory) {
        if (p.X == 0 && p.Y == 0) {
            return G1Point(0, 0);
        } else {
            return G1Point(p.X, PRIME_Q - (p.Y % PRIME_Q));
        }
    }

    /*
    * @return r the sum of two points of G1
    */
    function plus(G1Point memory p1, G1Point memory p2) internal view returns (G1Point memory r) {
        uint256[4] memory input;
        input[0] = p1.X;
        input[1] = p1.Y;
        input[2] = p2.X;
        input[3] = p2.Y;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 6, input, 0xc0, r, 0x60)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-add-failed");
    }

    /*
    * @return r the product of a point on G1 and a scalar.
    */
    function scalar_mul(G1Point memory p, uint256 s) internal view returns (G1Point memory r) {
        uint256[3] memory input;
        input[0] = p.X;
        input[1] = p.Y;
        input[2] = s;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 7, input, 0x80, r, 0x60)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-mul-failed");
    }

    /* @return The result of computing the pairing check
    *         e(p1[0], p2[0]) *  .... * e(p1[n], p2[n]) == 1
    */
    function pairing(
        G1Point memory a1,
        G2Point memory a2,
        G1Point memory b1,
        G2Point memory b2,
        G1Point memory c1,
        G2Point memory c2,
        G1Point memory d1,
        G2Point memory d2
    ) internal view returns (bool) {
        G1Point[4] memory p1 = [a1, b1, c1, d1];
        G2Point[4] memory p2 = [a2, b2, c2, d2];

        uint256 inputSize = 24;
        uint256[] memory input = new uint256[](inputSize);

        for (uint256 i = 0; i < 4; i++) {
            uint256 j = i * 6;
            input[j + 0] = p1[i].X;
            input[j + 1] = p1[i].Y;
            input[j + 2] = p2[i].X[0];
            input[j + 3] = p2[i].X[1];
            input[j + 4] = p2[i].Y[0];
            input[j + 5] = p2[i].Y[1];
        }

        uint256[1] memory out;
        bool success;
        assembly {
            success := staticcall(sub(gas(), 2000), 8, add(input, 0x20), mul(inputSize, 0x20), out, 0x20)
            switch success
            case 0 { invalid() }
        }
        require(success, "pairing-opcode-failed");
        return out[0] != 0;
    }
}

contract Groth16Verifier {
    uint256 constant SNARK_SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 constant PRIME_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;

    using Pairing for *;

    struct VerifyingKey {
        Pairing.G1Point alfa1;
        Pairing.G2Point beta2;
        Pairing.G2Point gamma2;
        Pairing.G2Point delta2;
        Pairing.G1Point[2] IC;
    }

    struct Proof {
        Pairing.G1Point A;
        Pairing.G2Point B;
        Pairing.G1Point C;
    }

    function verifyingKey() internal pure returns (VerifyingKey memory vk) {
        vk.alfa1 = Pairing.G1Point(
            uint256(3615055049533229816573527036843557613114528516704224980300044688755550783385),
            uint256(21357029303143706333536459197676902296195122829551532534982693507516645688890)
        );
        vk.beta2 = Pairing.G2Point(
            [
                uint256(18829187930278698729549171254408604777835873093428349477208301303536914610178),
                uint256(10826174318055348740781205798387774069400784721237265582852041407073275517920)
            ],
            [
                uint256(1685051377193544434313092415275435876706812289120796164266621241919252634392),
                uint256(19910812580088909220782808637435597372815702928288885547277341151000534498516)
            ]
        );
        vk.gamma2 = Pairing.G2Point(
            [
                uint256(20515123444313545517600076494175717327673095970293244874621419394246514381590),
                uint256(20421836339459786885546292990818171309988075652416223232870105179414434441227)
            ],
            [
                uint256(3780598603489558063734767075999720633487946659360158149888582584029588863222),
                uint256(14210512697921822994661753104069639363900224510853325408662930758309068760022)
            ]
        );
        vk.delta2 = Pairing.G2Point(
            [
                uint256(13009840435550130918016297454868847304146093759804715056531529316367483650484),
                uint256(20622535856862564205813330558112975809529626965760332912700082218549093214449)
            ],
            [
                uint256(16893256916069952183188250509333729276657212213616021660690943747372387692362),
                uint256(4709165052536836989832827955169533412685018703409223607849932019222224685228)
            ]
        );
        vk.IC[0] = Pairing.G1Point(
            uint256(14234064462678641355848148348827727587566281328904823702640030425613970563904),
            uint256(10460169714185584297151746358840033188733266547227357117736408388232865568715)
        );
        vk.IC[1] = Pairing.G1Point(
            uint256(10199681106573835840098968164772571661414198610231845975349811874481364379641),
            uint256(19389629067332331707365661850133216876947684034252680312397930425335979379669)
        );
    }

    /*
    * @returns Whether the proof is valid given the verifying key and public inputs.
    */
    function verifyProof(
        uint256[2] memory a,
        uint256[2][2] memory b,
        uint256[2] memory c,
        uint256[1] memory input
    ) public view returns (bool) {
        // Proof elements must be less than the prime q.
        require(a[0] < PRIME_Q && a[1] < PRIME_Q, "verifier-aX-gte-prime-q");
        require(c[0] < PRIME_Q && c[1] < PRIME_Q, "verifier-cX-gte-prime-q");
        require(
            b[0][0] < PRIME_Q && b[0][1] < PRIME_Q && b[1][0] < PRIME_Q && b[1][1] < PRIME_Q,
            "verifier-bX-gte-prime-q"
        );

        Proof memory _proof;
        _proof.A = Pairing.G1Point(a[0], a[1]);
        _proof.B = Pairing.G2Point([b[0][0], b[0][1]], [b[1][0], b[1][1]]);
        _proof.C = Pairing.G1Point(c[0], c[1]);

        VerifyingKey memory vk = verifyingKey();

        Pairing.G1Point memory vk_x = Pairing.G1Point(0, 0);
        vk_x = Pairing.plus(vk_x, vk.IC[0]);

        for (uint256 i = 0; i < input.length; i++) {
            require(input[i] < SNARK_SCALAR_FIELD, "verifier-gte-snark-scalar-field");
            vk_x = Pairing.plus(vk_x, Pairing.scalar_mul(vk.IC[i + 1], input[i]));
        }

        return Pairing.pairing(
            Pairing.negate(_proof.A), _proof.B, vk.alfa1, vk.beta2, vk_x, vk.gamma2, _proof.C, vk.delta2
        );
    }
}
