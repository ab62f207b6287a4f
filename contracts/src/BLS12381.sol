// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title BLS12381
/// @notice BLS12-381 helpers over the EIP-2537 precompiles (Prague and later):
///         RFC 9380 hash-to-G1 (suite BLS12381G1_XMD:SHA-256_SSWU_RO_, any DST) and a MinSig
///         (signature in G1, public key in G2) pairing check.
/// @dev Encodings are EIP-2537's: an Fp element is 64 bytes big-endian whose top 16 bytes are zero,
///      G1 = x || y (128 bytes), G2 = x.c0 || x.c1 || y.c0 || y.c1 (256 bytes), all-zero = infinity.
///      A failing precompile call consumes all gas forwarded to it, so every call forwards exactly
///      the precompile's price (or is made only on inputs that cannot fail).
library BLS12381 {
    // EIP-2537 addresses and prices (final version of the EIP; drafts used 0x0a-0x13).
    address internal constant G1ADD = address(0x0b);
    address internal constant G2MSM = address(0x0e);
    address internal constant PAIRING_CHECK = address(0x0f);
    address internal constant MAP_FP_TO_G1 = address(0x10);
    uint256 internal constant G1ADD_GAS = 375;
    uint256 internal constant MAP_FP_TO_G1_GAS = 5_500;
    uint256 internal constant PAIRING_2_GAS = 32_600 * 2 + 37_700;
    uint256 internal constant G2MSM_1_GAS = 22_500;
    address internal constant MODEXP = address(0x05);
    // the same addresses as plain numbers, for inline assembly
    uint256 private constant G1ADD_A = 0x0b;
    uint256 private constant MAP_FP_TO_G1_A = 0x10;
    uint256 private constant MODEXP_A = 0x05;

    // p = 0x1a0111ea...ffffaaab, split in a 16-byte high part and a 32-byte low part.
    uint256 internal constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 internal constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;

    // -G2 generator in EIP-2537 encoding (x.c0, x.c1, (p - y.c0), (p - y.c1)), 8 words.
    uint256 internal constant NEG_G2_0 = 0x00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051;
    uint256 internal constant NEG_G2_1 = 0xc6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8;
    uint256 internal constant NEG_G2_2 = 0x0000000000000000000000000000000013e02b6052719f607dacd3a088274f65;
    uint256 internal constant NEG_G2_3 = 0x596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e;
    uint256 internal constant NEG_G2_4 = 0x000000000000000000000000000000000d1b3cc2c7027888be51d9ef691d77bc;
    uint256 internal constant NEG_G2_5 = 0xb679afda66c73f17f9ee3837a55024f78c71363275a75d75d86bab79f74782aa;
    uint256 internal constant NEG_G2_6 = 0x0000000000000000000000000000000013fa4d4a0ad8b1ce186ed5061789213d;
    uint256 internal constant NEG_G2_7 = 0x993923066dddaf1040bc3ff59f825c78df74f2d75467e25e0f55f8a00fa030ed;

    error DstTooLong();
    error PrecompileFailed(address precompile);

    // ------------------------------------------------------------------ RFC 9380 hash-to-G1

    /// @notice expand_message_xmd(msg, DST, 128) with SHA-256 (RFC 9380 section 5.3.1), as the four
    ///         32-byte blocks b_1..b_4.
    function expandMessageXmd128(bytes memory message, bytes memory dst)
        internal
        view
        returns (bytes32 b1, bytes32 b2, bytes32 b3, bytes32 b4)
    {
        uint256 dlen = dst.length;
        if (dlen > 255) revert DstTooLong();
        bool ok;
        assembly ("memory-safe") {
            // scratch past the free memory pointer; nothing is allocated meanwhile
            let buf := mload(0x40)
            let mlen := mload(message)
            // msg_prime = Z_pad(64) || msg || I2OSP(128, 2) || I2OSP(0, 1) || DST || I2OSP(len(DST), 1)
            mstore(buf, 0)
            mstore(add(buf, 32), 0)
            mcopy(add(buf, 64), add(message, 32), mlen)
            let q := add(add(buf, 64), mlen)
            mstore(q, 0x0080000000000000000000000000000000000000000000000000000000000000)
            mcopy(add(q, 3), add(dst, 32), dlen)
            mstore8(add(add(q, 3), dlen), dlen)
            ok := staticcall(gas(), 0x02, buf, add(add(mlen, 68), dlen), 0x00, 32)
            let b0 := mload(0x00)
            // b_i = H((b0 xor b_{i-1}) || I2OSP(i, 1) || DST_prime), with b_0 xor b_0 -> b0 for i = 1
            mcopy(add(buf, 33), add(dst, 32), dlen)
            mstore8(add(add(buf, 33), dlen), dlen)
            let l := add(dlen, 34)
            mstore(buf, b0)
            mstore8(add(buf, 32), 1)
            ok := and(ok, staticcall(gas(), 0x02, buf, l, 0x00, 32))
            b1 := mload(0x00)
            mstore(buf, xor(b0, b1))
            mstore8(add(buf, 32), 2)
            ok := and(ok, staticcall(gas(), 0x02, buf, l, 0x00, 32))
            b2 := mload(0x00)
            mstore(buf, xor(b0, b2))
            mstore8(add(buf, 32), 3)
            ok := and(ok, staticcall(gas(), 0x02, buf, l, 0x00, 32))
            b3 := mload(0x00)
            mstore(buf, xor(b0, b3))
            mstore8(add(buf, 32), 4)
            ok := and(ok, staticcall(gas(), 0x02, buf, l, 0x00, 32))
            b4 := mload(0x00)
        }
        if (!ok) revert PrecompileFailed(address(0x02));
    }

    /// @notice hash_to_field(msg, 2) for Fp (m = 1, L = 64): the two field elements in EIP-2537
    ///         encoding (64 bytes each).
    function hashToFieldFp2(bytes memory message, bytes memory dst)
        internal
        view
        returns (bytes memory u0, bytes memory u1)
    {
        (bytes32 b1, bytes32 b2, bytes32 b3, bytes32 b4) = expandMessageXmd128(message, dst);
        u0 = _reduce(b1, b2);
        u1 = _reduce(b3, b4);
    }

    /// @notice hash_to_curve(msg) for G1 (RFC 9380 section 3, suite BLS12381G1_XMD:SHA-256_SSWU_RO_):
    ///         Q0 = map_to_curve(u0), Q1 = map_to_curve(u1), clear_cofactor(Q0 + Q1). MAP_FP_TO_G1
    ///         already clears the cofactor and clearing is linear, so P = map(u0) + map(u1).
    /// @return p the 128-byte EIP-2537 encoding of the point
    function hashToG1(bytes memory message, bytes memory dst) internal view returns (bytes memory p) {
        (bytes memory u0, bytes memory u1) = hashToFieldFp2(message, dst);
        p = new bytes(128);
        _hashToG1Into(u0, u1, p);
    }

    /// @dev Writes map(u0) + map(u1) into the 128 bytes at `out` (its data, i.e. after the length).
    function _hashToG1Into(bytes memory u0, bytes memory u1, bytes memory out) private view {
        bool ok;
        assembly ("memory-safe") {
            let buf := mload(0x40) // 256 bytes scratch: Q0 || Q1
            ok := staticcall(MAP_FP_TO_G1_GAS, MAP_FP_TO_G1_A, add(u0, 32), 64, buf, 128)
            ok := and(ok, staticcall(MAP_FP_TO_G1_GAS, MAP_FP_TO_G1_A, add(u1, 32), 64, add(buf, 128), 128))
            ok := and(ok, staticcall(G1ADD_GAS, G1ADD_A, buf, 256, add(out, 32), 128))
        }
        // cannot fail for reduced field elements; kept as a guard
        if (!ok) revert PrecompileFailed(MAP_FP_TO_G1);
    }

    /// @dev (hi || lo) mod p as a 64-byte EIP-2537 Fp element, via the MODEXP precompile (x^1 mod p).
    function _reduce(bytes32 hi, bytes32 lo) private view returns (bytes memory fp) {
        fp = new bytes(64);
        bool ok;
        assembly ("memory-safe") {
            let buf := mload(0x40)
            mstore(buf, 64) // base length
            mstore(add(buf, 0x20), 1) // exponent length
            mstore(add(buf, 0x40), 48) // modulus length
            mstore(add(buf, 0x60), hi)
            mstore(add(buf, 0x80), lo)
            mstore8(add(buf, 0xa0), 1) // exponent = 1
            // modulus (48 bytes) at buf + 0xa1: 16-byte P_HI then 32-byte P_LO
            mstore(add(buf, 0xa1), shl(128, P_HI))
            mstore(add(buf, 0xb1), P_LO)
            // the 48-byte result goes to fp[16..64]; fp[0..16] stays zero
            ok := staticcall(gas(), MODEXP_A, buf, 0xd1, add(fp, 0x30), 48)
        }
        if (!ok) revert PrecompileFailed(MODEXP);
    }

    /// @notice Writes the 256-byte -G2 generator into `buf` at byte offset `offset` of its data.
    function writeNegG2(bytes memory buf, uint256 offset) internal pure {
        assembly ("memory-safe") {
            let d := add(add(buf, 32), offset)
            mstore(d, NEG_G2_0)
            mstore(add(d, 32), NEG_G2_1)
            mstore(add(d, 64), NEG_G2_2)
            mstore(add(d, 96), NEG_G2_3)
            mstore(add(d, 128), NEG_G2_4)
            mstore(add(d, 160), NEG_G2_5)
            mstore(add(d, 192), NEG_G2_6)
            mstore(add(d, 224), NEG_G2_7)
        }
    }

    // ------------------------------------------------------------------ checks

    /// @notice True iff the 128 bytes at `p` are the point at infinity (all zero).
    function isG1Infinity(bytes calldata p) internal pure returns (bool inf) {
        assembly ("memory-safe") {
            let o := p.offset
            inf := iszero(or(or(calldataload(o), calldataload(add(o, 32))), or(calldataload(add(o, 64)), calldataload(add(o, 96)))))
        }
    }

    /// @notice True iff both 64-byte Fp limbs of a 128-byte G1 encoding have their top 16 bytes zero.
    function hasCanonicalPadding(bytes calldata p) internal pure returns (bool ok) {
        assembly ("memory-safe") {
            let o := p.offset
            ok := iszero(or(shr(128, calldataload(o)), shr(128, calldataload(add(o, 64)))))
        }
    }

    /// @notice Checks that a 256-byte G2 encoding is a point of the prime-order subgroup (not
    ///         infinity): G2MSM with scalar 1 validates encoding, curve and subgroup.
    function isValidG2(bytes memory q) internal view returns (bool) {
        if (q.length != 256) return false;
        bool allZero = true;
        for (uint256 i = 0; i < 256; i++) {
            if (q[i] != 0) {
                allZero = false;
                break;
            }
        }
        if (allZero) return false;
        bytes memory input = abi.encodePacked(q, uint256(1));
        (bool ok, bytes memory out) = G2MSM.staticcall{gas: G2MSM_1_GAS}(input);
        return ok && out.length == 256 && keccak256(out) == keccak256(q);
    }
}
