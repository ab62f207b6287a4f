// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "./utils/Test.sol";
import {CertificateVerifier} from "../src/CertificateVerifier.sol";
import {BLS12381} from "../src/BLS12381.sol";

contract HashToG1Harness {
    function hash(bytes memory message) external view returns (bytes memory) {
        return BLS12381.hashToG1(message, "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_");
    }
}

/// Checks the verifier against a REAL finalization certificate made by Ordo's own crypto
/// (commonware 2026.10.0 simplex bls12381_threshold, MinSig), written by
/// crates/light/tests/l1_fixture.rs to test/fixtures/finalization.json.
contract CertificateVerifierTest is Test {
    // p, to negate a G1 point (y -> p - y) in EIP-2537 encoding
    uint256 constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;

    bytes namespace;
    bytes proposal;
    bytes message;
    bytes signature; // 128-byte EIP-2537
    bytes signatureCompressed; // 48 bytes
    bytes groupKey; // 256-byte EIP-2537
    bytes groupKeyCompressed; // 96 bytes
    bytes32 payload;
    CertificateVerifier verifier;

    function setUp() public {
        string memory json = vm.readFile("test/fixtures/finalization.json");
        namespace = vm.parseJsonBytes(json, ".namespace");
        proposal = vm.parseJsonBytes(json, ".proposal");
        message = vm.parseJsonBytes(json, ".message");
        signature = vm.parseJsonBytes(json, ".signatureEip2537");
        signatureCompressed = vm.parseJsonBytes(json, ".signature");
        groupKey = vm.parseJsonBytes(json, ".groupKeyEip2537");
        groupKeyCompressed = vm.parseJsonBytes(json, ".groupKey");
        payload = bytes32(vm.parseJsonBytes(json, ".payload"));
        verifier = new CertificateVerifier(namespace, groupKey);
    }

    // ------------------------------------------------------------------ fixture sanity

    function test_fixtureShape() public view {
        assertEq(namespace, bytes("ordo"), "namespace");
        assertEq(signature.length, 128, "signature eip2537");
        assertEq(signatureCompressed.length, 48, "signature compressed");
        assertEq(groupKey.length, 256, "key eip2537");
        assertEq(groupKeyCompressed.length, 96, "key compressed");
    }

    // ------------------------------------------------------------------ accepts the real certificate

    function test_acceptsRealCertificate() public view {
        assertTrue(verifier.verifyFinalization(proposal, signature), "real certificate verifies");
    }

    function test_verificationGasUnder150k() public view {
        uint256 before = gasleft();
        bool ok = verifier.verifyFinalization(proposal, signature);
        uint256 used = before - gasleft();
        assertTrue(ok, "verifies");
        assertLt(used, 150_000, "certificate verification gas");
    }

    function test_signedBytesMatchTheNode() public view {
        // namespace || "_FINALIZE", union_unique framing: varint(len) || ns || proposal
        assertEq(verifier.finalizeMessage(proposal), message, "exact signed bytes");
        assertEq(message, abi.encodePacked(uint8(13), "ordo_FINALIZE", proposal), "framing");
    }

    function test_decodesProposal() public view {
        CertificateVerifier.Proposal memory p = verifier.decodeProposal(proposal);
        assertEq(p.epoch, 0, "epoch");
        assertEq(p.viewNumber, 7, "view");
        assertEq(p.parentView, 6, "parent");
        assertEq(p.payload, payload, "payload");
        CertificateVerifier.Proposal memory q = verifier.requireFinalization(proposal, signature);
        assertEq(q.payload, payload, "requireFinalization returns the proposal");
    }

    function test_groupKeyStored() public view {
        assertEq(verifier.groupKey(), groupKey, "group key");
        assertEq(verifier.namespace(), namespace, "namespace");
    }

    // ------------------------------------------------------------------ rejects

    function test_rejectsFlippedProposalBits() public view {
        for (uint256 i = 0; i < proposal.length; i++) {
            bytes memory p = bytes.concat(proposal);
            p[i] ^= 0x01;
            // a flipped bit either breaks the encoding or changes the signed message
            try verifier.verifyFinalization(p, signature) returns (bool ok) {
                assertFalse(ok, "flipped proposal bit must not verify");
            } catch (bytes memory err) {
                assertEq(err, abi.encodeWithSelector(CertificateVerifier.MalformedProposal.selector), "malformed");
            }
        }
    }

    function test_rejectsFlippedSignatureBits() public {
        // any flipped bit of a coordinate leaves the curve (or the canonical range)
        uint256[4] memory positions = [uint256(16), 63, 80, 127];
        for (uint256 k = 0; k < positions.length; k++) {
            bytes memory s = bytes.concat(signature);
            s[positions[k]] ^= 0x01;
            vm.expectRevert(CertificateVerifier.InvalidSignatureEncoding.selector);
            verifier.verifyFinalization(proposal, s);
        }
    }

    function test_rejectsNegatedSignature() public view {
        // -sig is a valid subgroup point but not the signature: must return false, not revert
        bytes memory s = bytes.concat(signature);
        (uint256 yHi, uint256 yLo) = (_word(s, 64), _word(s, 96));
        (uint256 nHi, uint256 nLo) = _subP(yHi, yLo);
        _setWord(s, 64, nHi);
        _setWord(s, 96, nLo);
        assertFalse(verifier.verifyFinalization(proposal, s), "negated signature");
    }

    function test_rejectsWrongNamespace() public {
        CertificateVerifier other = new CertificateVerifier("ordx", groupKey);
        assertFalse(other.verifyFinalization(proposal, signature), "wrong namespace");
        CertificateVerifier longer = new CertificateVerifier("ordo_", groupKey);
        assertFalse(longer.verifyFinalization(proposal, signature), "namespace prefix");
        CertificateVerifier empty;
        vm.expectRevert(CertificateVerifier.InvalidNamespace.selector);
        empty = new CertificateVerifier("", groupKey);
    }

    function test_rejectsWrongKey() public {
        // another valid G2 point (the -G2 generator) as group key
        bytes memory k = new bytes(256);
        _negG2(k);
        CertificateVerifier other = new CertificateVerifier(namespace, k);
        assertFalse(other.verifyFinalization(proposal, signature), "wrong key");
    }

    function test_rejectsSignatureAtInfinity() public {
        vm.expectRevert(CertificateVerifier.SignatureAtInfinity.selector);
        verifier.verifyFinalization(proposal, new bytes(128));
    }

    function test_rejectsKeyAtInfinity() public {
        vm.expectRevert(CertificateVerifier.InvalidGroupKey.selector);
        new CertificateVerifier(namespace, new bytes(256));
    }

    function test_rejectsBadSignatureLengths() public {
        vm.expectRevert(abi.encodeWithSelector(CertificateVerifier.InvalidSignatureLength.selector, 48));
        verifier.verifyFinalization(proposal, signatureCompressed);
        vm.expectRevert(abi.encodeWithSelector(CertificateVerifier.InvalidSignatureLength.selector, 127));
        verifier.verifyFinalization(proposal, _slice(signature, 0, 127));
        vm.expectRevert(abi.encodeWithSelector(CertificateVerifier.InvalidSignatureLength.selector, 129));
        verifier.verifyFinalization(proposal, bytes.concat(signature, hex"00"));
        vm.expectRevert(abi.encodeWithSelector(CertificateVerifier.InvalidSignatureLength.selector, 0));
        verifier.verifyFinalization(proposal, "");
    }

    function test_rejectsBadKeyLengthsAndPoints() public {
        vm.expectRevert(CertificateVerifier.InvalidGroupKey.selector);
        new CertificateVerifier(namespace, groupKeyCompressed);
        vm.expectRevert(CertificateVerifier.InvalidGroupKey.selector);
        new CertificateVerifier(namespace, _slice(groupKey, 0, 255));
        bytes memory k = bytes.concat(groupKey);
        k[255] ^= 0x01; // off curve
        vm.expectRevert(CertificateVerifier.InvalidGroupKey.selector);
        new CertificateVerifier(namespace, k);
    }

    function test_rejectsNonCanonicalPadding() public {
        bytes memory s = bytes.concat(signature);
        s[0] = 0x01; // top 16 bytes of x must be zero
        vm.expectRevert(CertificateVerifier.InvalidSignatureEncoding.selector);
        verifier.verifyFinalization(proposal, s);
    }

    function test_rejectsMalformedProposals() public {
        vm.expectRevert(CertificateVerifier.MalformedProposal.selector);
        verifier.verifyFinalization(_slice(proposal, 0, proposal.length - 1), signature);
        vm.expectRevert(CertificateVerifier.MalformedProposal.selector);
        verifier.verifyFinalization(bytes.concat(proposal, hex"00"), signature);
        vm.expectRevert(CertificateVerifier.MalformedProposal.selector);
        verifier.verifyFinalization("", signature);
        // non-canonical varint (0 encoded as 0x80 0x00) is rejected like commonware-codec does
        vm.expectRevert(CertificateVerifier.MalformedProposal.selector);
        verifier.decodeProposal(abi.encodePacked(hex"8000", hex"07", hex"06", payload));
        // a bad signature on a well-formed proposal reverts in requireFinalization
        bytes memory other = abi.encodePacked(hex"00", hex"08", hex"07", payload);
        vm.expectRevert(CertificateVerifier.InvalidSignature.selector);
        verifier.requireFinalization(other, signature);
    }

    function test_decodesMultiByteVarints() public view {
        // epoch 1, view 300 (0xac 0x02), parent 2^64-1 (10 bytes)
        bytes memory p = abi.encodePacked(hex"01", hex"ac02", hex"ffffffffffffffffff01", payload);
        CertificateVerifier.Proposal memory d = verifier.decodeProposal(p);
        assertEq(d.epoch, 1, "epoch");
        assertEq(d.viewNumber, 300, "view");
        assertEq(d.parentView, type(uint64).max, "parent");
        assertEq(d.payload, payload, "payload");
    }

    function test_rejectsVarintOverflow() public {
        vm.expectRevert(CertificateVerifier.MalformedProposal.selector);
        verifier.decodeProposal(abi.encodePacked(hex"00", hex"00", hex"ffffffffffffffffff02", payload));
    }

    // ------------------------------------------------------------------ synthetic key (sk = 1)

    /// With sk = 1 the key is the G2 generator and the signature is H(message): exercises both the
    /// in-code prefix (short namespace) and the storage prefix (namespace longer than 22 bytes).
    function test_syntheticKeyShortAndLongNamespaces() public {
        HashToG1Harness h = new HashToG1Harness();
        bytes memory g2 = _g2Generator();
        bytes[3] memory namespaces = [bytes("ordo"), bytes("0123456789012345678901"), bytes("ordo-devnet-namespace-longer-than-one-word")];
        for (uint256 i = 0; i < namespaces.length; i++) {
            CertificateVerifier v = new CertificateVerifier(namespaces[i], g2);
            bytes memory ns = abi.encodePacked(namespaces[i], "_FINALIZE");
            assertEq(v.finalizeMessage(proposal), abi.encodePacked(uint8(ns.length), ns, proposal), "prefix");
            bytes memory sig = h.hash(v.finalizeMessage(proposal));
            assertTrue(v.verifyFinalization(proposal, sig), "sk=1 signature verifies");
            assertFalse(verifier.verifyFinalization(proposal, sig), "not under the real key");
        }
        // 130-byte namespace -> 2-byte varint length prefix (139 = 0x8b 0x01)
        bytes memory big = new bytes(130);
        CertificateVerifier w = new CertificateVerifier(big, g2);
        assertEq(w.finalizeMessage(proposal), abi.encodePacked(hex"8b01", big, "_FINALIZE", proposal), "varint");
        assertTrue(w.verifyFinalization(proposal, h.hash(w.finalizeMessage(proposal))), "long namespace verifies");
    }

    // ------------------------------------------------------------------ helpers

    function _g2Generator() internal pure returns (bytes memory) {
        return abi.encodePacked(
            uint256(0x00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051),
            uint256(0xc6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8),
            uint256(0x0000000000000000000000000000000013e02b6052719f607dacd3a088274f65),
            uint256(0x596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e),
            uint256(0x000000000000000000000000000000000ce5d527727d6e118cc9cdc6da2e351a),
            uint256(0xadfd9baa8cbdd3a76d429a695160d12c923ac9cc3baca289e193548608b82801),
            uint256(0x000000000000000000000000000000000606c4a02ea734cc32acd2b02bc28b99),
            uint256(0xcb3e287e85a763af267492ab572e99ab3f370d275cec1da1aaa9075ff05f79be)
        );
    }

    function _slice(bytes memory b, uint256 from, uint256 to) internal pure returns (bytes memory out) {
        out = new bytes(to - from);
        for (uint256 i = from; i < to; i++) {
            out[i - from] = b[i];
        }
    }

    function _word(bytes memory b, uint256 offset) internal pure returns (uint256 w) {
        assembly {
            w := mload(add(add(b, 32), offset))
        }
    }

    function _setWord(bytes memory b, uint256 offset, uint256 w) internal pure {
        assembly {
            mstore(add(add(b, 32), offset), w)
        }
    }

    /// (P_HI, P_LO) - (hi, lo) for a 64-byte Fp element (hi = top word incl. 16 zero bytes).
    function _subP(uint256 hi, uint256 lo) internal pure returns (uint256, uint256) {
        unchecked {
            uint256 borrow = lo > P_LO ? 1 : 0;
            return (P_HI - hi - borrow, P_LO - lo);
        }
    }

    function _negG2(bytes memory k) internal pure {
        uint256[8] memory w = [
            uint256(0x00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051),
            0xc6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8,
            0x0000000000000000000000000000000013e02b6052719f607dacd3a088274f65,
            0x596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e,
            0x000000000000000000000000000000000d1b3cc2c7027888be51d9ef691d77bc,
            0xb679afda66c73f17f9ee3837a55024f78c71363275a75d75d86bab79f74782aa,
            0x0000000000000000000000000000000013fa4d4a0ad8b1ce186ed5061789213d,
            0x993923066dddaf1040bc3ff59f825c78df74f2d75467e25e0f55f8a00fa030ed
        ];
        for (uint256 i = 0; i < 8; i++) {
            _setWord(k, i * 32, w[i]);
        }
    }
}
