// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Script} from "../test/utils/Test.sol";
import {ForcedInclusionInbox} from "../src/ForcedInclusionInbox.sol";
import {CertificateVerifier} from "../src/CertificateVerifier.sol";

/// Deploys the Ordo L1 contracts (used by the devnet against anvil).
///
///   forge script script/Deploy.s.sol --rpc-url http://127.0.0.1:8545 --broadcast \
///       --private-key $DEPLOYER_KEY
///
/// Environment (all optional):
///   ORDO_INCLUSION_DELAY      L1 blocks until a forced entry is due   (default 25, ~5 min)
///   ORDO_INBOX_BASE_FEE       wei, fee with no pending entries        (default 1e15 = 0.001 ETH)
///   ORDO_FEE_DOUBLING_STEP    pending entries per fee doubling        (default 50)
///   ORDO_MAX_PER_L1_BLOCK     entries per rollup per L1 block         (default 16)
///   ORDO_MAX_TX_SIZE          bytes per forced transaction            (default 131072)
///   ORDO_FEE_RECIPIENT        who may pull the fees                   (default: the deployer)
///   ORDO_NAMESPACE            chain namespace                         (default "ordo")
///   ORDO_GROUP_KEY_EIP2537    256-byte group key, EIP-2537 encoding, 0x-hex; without it the
///                             CertificateVerifier is not deployed
/// The addresses are printed as `ForcedInclusionInbox: 0x..` / `CertificateVerifier: 0x..` in the
/// return values and recorded by forge in broadcast/Deploy.s.sol/<chain id>/run-latest.json.
contract Deploy is Script {
    function run() external returns (address inbox, address verifier) {
        ForcedInclusionInbox.Config memory cfg = ForcedInclusionInbox.Config({
            inclusionDelay: vm.envOr("ORDO_INCLUSION_DELAY", uint256(25)),
            baseFee: vm.envOr("ORDO_INBOX_BASE_FEE", uint256(1e15)),
            feeDoublingStep: vm.envOr("ORDO_FEE_DOUBLING_STEP", uint256(50)),
            maxPerL1Block: vm.envOr("ORDO_MAX_PER_L1_BLOCK", uint256(16)),
            maxTxSize: vm.envOr("ORDO_MAX_TX_SIZE", uint256(131_072)),
            feeRecipient: address(0)
        });
        bytes memory groupKey = vm.envOr("ORDO_GROUP_KEY_EIP2537", bytes(""));
        string memory ns = vm.envOr("ORDO_NAMESPACE", string("ordo"));

        vm.startBroadcast();
        cfg.feeRecipient = vm.envOr("ORDO_FEE_RECIPIENT", msg.sender);
        inbox = address(new ForcedInclusionInbox(cfg));
        if (groupKey.length != 0) {
            verifier = address(new CertificateVerifier(bytes(ns), groupKey));
        }
        vm.stopBroadcast();
    }
}
