// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "./utils/Test.sol";
import {BLS12381} from "../src/BLS12381.sol";

contract BLSHarness {
    function hashToG1(bytes memory message, bytes memory dst) external view returns (bytes memory) {
        return BLS12381.hashToG1(message, dst);
    }

    function hashToField(bytes memory message, bytes memory dst) external view returns (bytes memory, bytes memory) {
        return BLS12381.hashToFieldFp2(message, dst);
    }

    function isValidG2(bytes memory q) external view returns (bool) {
        return BLS12381.isValidG2(q);
    }
}

/// RFC 9380 appendix J.9.1, suite BLS12381G1_XMD:SHA-256_SSWU_RO_.
contract BLS12381HashToCurveTest is Test {
    bytes constant DST = "QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_";
    BLSHarness h;

    function setUp() public {
        h = new BLSHarness();
    }

    function _check(bytes memory message, bytes memory x, bytes memory y) internal view {
        bytes memory expected = abi.encodePacked(bytes16(0), x, bytes16(0), y);
        assertEq(h.hashToG1(message, DST), expected, "hash_to_curve P");
    }

    function _repeat(bytes1 c, uint256 n) internal pure returns (bytes memory out) {
        out = new bytes(n);
        for (uint256 i = 0; i < n; i++) {
            out[i] = c;
        }
    }

    function test_rfc9380_J91_empty() public view {
        _check(
            "",
            hex"052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
            hex"08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265"
        );
    }

    function test_rfc9380_J91_abc() public view {
        _check(
            "abc",
            hex"03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903",
            hex"0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d"
        );
    }

    function test_rfc9380_J91_abcdef0123456789() public view {
        _check(
            "abcdef0123456789",
            hex"11e0b079dea29a68f0383ee94fed1b940995272407e3bb916bbf268c263ddd57a6a27200a784cbc248e84f357ce82d98",
            hex"03a87ae2caf14e8ee52e51fa2ed8eefe80f02457004ba4d486d6aa1f517c0889501dc7413753f9599b099ebcbbd2d709"
        );
    }

    function test_rfc9380_J91_q128() public view {
        _check(
            abi.encodePacked("q128_", _repeat("q", 128)),
            hex"15f68eaa693b95ccb85215dc65fa81038d69629f70aeee0d0f677cf22285e7bf58d7cb86eefe8f2e9bc3f8cb84fac488",
            hex"1807a1d50c29f430b8cafc4f8638dfeeadf51211e1602a5f184443076715f91bb90a48ba1e370edce6ae1062f5e6dd38"
        );
    }

    function test_rfc9380_J91_a512() public view {
        _check(
            abi.encodePacked("a512_", _repeat("a", 512)),
            hex"082aabae8b7dedb0e78aeb619ad3bfd9277a2f77ba7fad20ef6aabdc6c31d19ba5a6d12283553294c1825c4b3ca2dcfe",
            hex"05b84ae5a942248eea39e1d91030458c40153f3b654ab7872d779ad1e942856a20c438e8d99bc8abfbf74729ce1f7ac8"
        );
    }

    function test_dstTooLong() public {
        vm.expectRevert(BLS12381.DstTooLong.selector);
        h.hashToG1("abc", _repeat("d", 256));
    }

    function test_fieldElementsAreReduced() public view {
        (bytes memory u0, bytes memory u1) = h.hashToField("abc", DST);
        assertEq(u0.length, 64, "u0 length");
        assertEq(u1.length, 64, "u1 length");
        assertEq(uint256(bytes32(u0)) >> 128, 0, "u0 top 16 bytes zero");
        assertEq(uint256(bytes32(u1)) >> 128, 0, "u1 top 16 bytes zero");
    }

    function test_negG2GeneratorIsValid() public view {
        bytes memory q = new bytes(256);
        _fillNegG2(q);
        assertTrue(h.isValidG2(q), "-G2 is in G2");
        assertFalse(h.isValidG2(new bytes(256)), "infinity rejected");
        q[255] ^= 0x01;
        assertFalse(h.isValidG2(q), "off-curve rejected");
        assertFalse(h.isValidG2(new bytes(255)), "bad length rejected");
    }

    function _fillNegG2(bytes memory q) internal pure {
        BLS12381.writeNegG2(q, 0);
    }
}
