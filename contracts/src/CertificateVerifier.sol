// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {BLS12381} from "./BLS12381.sol";

/// @title CertificateVerifier
/// @notice Verifies an Ordo finalization certificate on L1 against the network's 96-byte group key.
///
/// An Ordo finalization is commonware simplex's `Finalization` under the `bls12381_threshold`
/// scheme with variant MinSig: one threshold BLS signature (G1) over the encoded proposal, checked
/// against the group public key (G2). Exactly what the node signs (commonware 2026.10.0):
///
///   proposal  = varint(epoch) || varint(view) || varint(parent view) || payload (32-byte sha256 digest)
///   ns        = namespace || "_FINALIZE"
///   message   = varint(len(ns)) || ns || proposal           (commonware_utils::union_unique)
///   H         = hash_to_G1(message, "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_")   (RFC 9380)
///   valid    <=> e(signature, G2) == e(H, groupKey)
///
/// varints are LEB128 (7 bits per byte, least significant group first, canonical).
/// Points are passed decompressed in EIP-2537 encoding: signature 128 bytes, group key 256 bytes.
contract CertificateVerifier {
    bytes public constant DST = "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_";
    bytes public constant FINALIZE_SUFFIX = "_FINALIZE";
    uint256 public constant PAYLOAD_LENGTH = 32;

    /// @notice The group key, 256-byte EIP-2537 G2 encoding, kept in code (8 immutable words).
    bytes32 private immutable k0;
    bytes32 private immutable k1;
    bytes32 private immutable k2;
    bytes32 private immutable k3;
    bytes32 private immutable k4;
    bytes32 private immutable k5;
    bytes32 private immutable k6;
    bytes32 private immutable k7;

    /// @notice The chain namespace (e.g. "ordo"); the signed domain is namespace || "_FINALIZE".
    bytes public namespace;
    /// @dev varint(len(namespace || "_FINALIZE")) || namespace || "_FINALIZE": kept in code when it
    ///      fits one word (namespaces up to 22 bytes), in storage otherwise.
    bytes32 private immutable prefixWord;
    uint256 private immutable prefixLength;
    bytes private domainPrefix;

    error InvalidGroupKey();
    error InvalidNamespace();
    error InvalidSignatureLength(uint256 length);
    error SignatureAtInfinity();
    error InvalidSignatureEncoding();
    error MalformedProposal();
    error InvalidSignature();

    struct Proposal {
        uint64 epoch;
        uint64 viewNumber;
        uint64 parentView;
        bytes32 payload;
    }

    /// @param namespace_ the Ordo chain namespace (the bytes given to simplex, before suffixes)
    /// @param groupKey_  the 96-byte group key, decompressed to its 256-byte EIP-2537 encoding
    constructor(bytes memory namespace_, bytes memory groupKey_) {
        if (namespace_.length == 0 || namespace_.length > 1024) revert InvalidNamespace();
        if (!BLS12381.isValidG2(groupKey_)) revert InvalidGroupKey();
        bytes32[8] memory w;
        for (uint256 i = 0; i < 8; i++) {
            bytes32 word;
            assembly ("memory-safe") {
                word := mload(add(add(groupKey_, 32), mul(i, 32)))
            }
            w[i] = word;
        }
        (k0, k1, k2, k3, k4, k5, k6, k7) = (w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
        namespace = namespace_;
        bytes memory ns = abi.encodePacked(namespace_, FINALIZE_SUFFIX);
        bytes memory prefix = abi.encodePacked(_varint(ns.length), ns);
        prefixLength = prefix.length;
        if (prefix.length <= 32) {
            bytes32 word;
            assembly ("memory-safe") {
                word := mload(add(prefix, 32))
            }
            // keep only the prefix bytes (the rest of the word is zero)
            prefixWord = word & ~bytes32(type(uint256).max >> (8 * prefix.length));
        } else {
            domainPrefix = prefix;
        }
    }

    // ------------------------------------------------------------------ verification

    /// @notice True iff `signature` is the network's finalization certificate for `proposal`.
    /// @dev Reverts on malformed input (bad lengths, point at infinity, non-canonical or invalid
    ///      point, proposal that does not decode); returns false for a well-formed but wrong signature.
    function verifyFinalization(bytes calldata proposal, bytes calldata signature) public view returns (bool) {
        decodeProposal(proposal);
        return _verify(finalizeMessage(proposal), signature);
    }

    /// @notice Like `verifyFinalization` but reverts unless valid, and returns the decoded proposal.
    function requireFinalization(bytes calldata proposal, bytes calldata signature)
        external
        view
        returns (Proposal memory p)
    {
        p = decodeProposal(proposal);
        if (!_verify(finalizeMessage(proposal), signature)) revert InvalidSignature();
    }

    /// @notice The exact bytes the validators sign for `proposal` (before hashing to G1).
    function finalizeMessage(bytes calldata proposal) public view returns (bytes memory message) {
        uint256 n = prefixLength;
        if (n > 32) return abi.encodePacked(domainPrefix, proposal);
        message = new bytes(n + proposal.length);
        bytes32 word = prefixWord;
        assembly ("memory-safe") {
            let d := add(message, 32)
            mstore(d, word)
            calldatacopy(add(d, n), proposal.offset, proposal.length)
        }
    }

    /// @notice The group key in EIP-2537 encoding.
    function groupKey() external view returns (bytes memory) {
        return abi.encodePacked(k0, k1, k2, k3, k4, k5, k6, k7);
    }

    /// @notice Decodes a simplex proposal: varint epoch, varint view, varint parent, 32-byte payload.
    function decodeProposal(bytes calldata proposal) public pure returns (Proposal memory p) {
        uint256 o;
        (p.epoch, o) = _readVarint(proposal, 0);
        (p.viewNumber, o) = _readVarint(proposal, o);
        (p.parentView, o) = _readVarint(proposal, o);
        if (proposal.length != o + PAYLOAD_LENGTH) revert MalformedProposal();
        p.payload = bytes32(proposal[o:]);
    }

    // ------------------------------------------------------------------ internals

    function _verify(bytes memory message, bytes calldata signature) internal view returns (bool) {
        if (signature.length != 128) revert InvalidSignatureLength(signature.length);
        if (BLS12381.isG1Infinity(signature)) revert SignatureAtInfinity();
        if (!BLS12381.hasCanonicalPadding(signature)) revert InvalidSignatureEncoding();

        // pairing input: signature || -G2 || H(message) || groupKey  (2 x 384 bytes)
        bytes memory input = new bytes(768);
        bytes memory h = BLS12381.hashToG1(message, DST);
        _writeKey(input);
        BLS12381.writeNegG2(input, 128);
        bool ok;
        uint256 result;
        uint256 pairingGas = BLS12381.PAIRING_2_GAS;
        address pairing = BLS12381.PAIRING_CHECK;
        assembly ("memory-safe") {
            let d := add(input, 32)
            calldatacopy(d, signature.offset, 128)
            let hd := add(h, 32)
            mstore(add(d, 384), mload(hd))
            mstore(add(d, 416), mload(add(hd, 32)))
            mstore(add(d, 448), mload(add(hd, 64)))
            mstore(add(d, 480), mload(add(hd, 96)))
            // forward exactly the precompile's price: an invalid point (off curve, outside the
            // subgroup, coordinate >= p) makes it fail, which would otherwise burn all our gas
            ok := staticcall(pairingGas, pairing, d, 768, 0x00, 32)
            result := mload(0x00)
        }
        if (!ok) revert InvalidSignatureEncoding();
        return result == 1;
    }

    /// @dev Copies the 8 key words to bytes [512, 768) of `input`.
    function _writeKey(bytes memory input) private view {
        (bytes32 a0, bytes32 a1, bytes32 a2, bytes32 a3) = (k0, k1, k2, k3);
        (bytes32 a4, bytes32 a5, bytes32 a6, bytes32 a7) = (k4, k5, k6, k7);
        assembly ("memory-safe") {
            let d := add(input, 544)
            mstore(d, a0)
            mstore(add(d, 32), a1)
            mstore(add(d, 64), a2)
            mstore(add(d, 96), a3)
            mstore(add(d, 128), a4)
            mstore(add(d, 160), a5)
            mstore(add(d, 192), a6)
            mstore(add(d, 224), a7)
        }
    }

    function _varint(uint256 v) internal pure returns (bytes memory out) {
        while (v >= 0x80) {
            out = abi.encodePacked(out, uint8(v & 0x7f) | 0x80);
            v >>= 7;
        }
        out = abi.encodePacked(out, uint8(v));
    }

    /// @dev Canonical LEB128 u64 as commonware-codec reads it: at most 10 bytes, no trailing zero
    ///      byte, no bits beyond 64.
    function _readVarint(bytes calldata b, uint256 o) internal pure returns (uint64 v, uint256 next) {
        unchecked {
            uint256 len = b.length;
            uint256 result;
            for (uint256 i = 0; i < 10; ++i) {
                uint256 pos = o + i;
                if (pos >= len) revert MalformedProposal();
                uint256 byte_;
                assembly ("memory-safe") {
                    byte_ := byte(0, calldataload(add(b.offset, pos)))
                }
                if (byte_ == 0 && i > 0) revert MalformedProposal(); // non-canonical
                if (i == 9 && byte_ > 1) revert MalformedProposal(); // beyond 64 bits
                result |= (byte_ & 0x7f) << (7 * i);
                if (byte_ < 0x80) return (uint64(result), pos + 1);
            }
        }
        revert MalformedProposal();
    }
}
