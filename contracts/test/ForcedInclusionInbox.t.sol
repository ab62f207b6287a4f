// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test, Vm} from "./utils/Test.sol";
import {ForcedInclusionInbox} from "../src/ForcedInclusionInbox.sol";

/// Re-enters `withdraw` (and `submit`) from its receive hook.
contract ReentrantWithdrawer {
    ForcedInclusionInbox public immutable inbox;
    uint256 public reentries;
    bool public reentrySucceeded;
    bytes public lastError;

    constructor(ForcedInclusionInbox inbox_) {
        inbox = inbox_;
    }

    function overpay(uint64 rollupId, bytes calldata tx_) external payable {
        inbox.submit{value: msg.value}(rollupId, tx_);
    }

    function drain() external {
        inbox.withdraw();
    }

    receive() external payable {
        reentries++;
        try inbox.withdraw() {
            reentrySucceeded = true;
        } catch (bytes memory err) {
            lastError = err;
        }
        try inbox.submit{value: msg.value}(7, hex"bad0") {
            reentrySucceeded = true;
        } catch {}
    }
}

/// Rejects every transfer.
contract Refuser {
    function drain(ForcedInclusionInbox inbox) external {
        inbox.withdraw();
    }

    function overpay(ForcedInclusionInbox inbox, uint64 rollupId, bytes calldata tx_) external payable {
        inbox.submit{value: msg.value}(rollupId, tx_);
    }
}

contract ForcedInclusionInboxTest is Test {
    // mirrors the contract's event for vm.expectEmit
    event ForcedTransaction(
        uint64 indexed rollupId,
        uint256 indexed index,
        bytes32 indexed txHash,
        address sender,
        uint64 l1Block,
        uint64 deadline,
        bytes32 prevAccumulator,
        bytes32 accumulator,
        uint256 fee,
        bytes signedTx
    );

    uint256 constant DELAY = 10;
    uint256 constant BASE_FEE = 0.001 ether;
    uint256 constant STEP = 4;
    uint256 constant PER_BLOCK = 3;
    uint256 constant MAX_SIZE = 1024;
    address constant RECIPIENT = address(0xFEE);
    uint64 constant ROLLUP = 901;
    uint64 constant OTHER = 902;
    address constant ALICE = address(0xA11CE);
    address constant BOB = address(0xB0B);

    ForcedInclusionInbox inbox;

    function setUp() public {
        vm.roll(1000);
        inbox = new ForcedInclusionInbox(_cfg(DELAY));
        vm.deal(ALICE, 1000 ether);
        vm.deal(BOB, 1000 ether);
    }

    function _cfg(uint256 delay) internal pure returns (ForcedInclusionInbox.Config memory) {
        return ForcedInclusionInbox.Config({
            inclusionDelay: delay,
            baseFee: BASE_FEE,
            feeDoublingStep: STEP,
            maxPerL1Block: PER_BLOCK,
            maxTxSize: MAX_SIZE,
            feeRecipient: RECIPIENT
        });
    }

    function _tx(uint256 i) internal pure returns (bytes memory) {
        return abi.encodePacked(hex"02f8", keccak256(abi.encode("tx", i)));
    }

    function _submit(address who, uint64 rollupId, bytes memory t) internal returns (uint256) {
        uint256 f = inbox.fee(rollupId);
        vm.prank(who);
        return inbox.submit{value: f}(rollupId, t);
    }

    function _acc(bytes32 prev, uint64 rollupId, uint256 i, uint256 l1Block, bytes memory t)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(prev, uint256(rollupId), i, l1Block, keccak256(t)));
    }

    // ------------------------------------------------------------------ construction bounds

    function test_constructorBounds() public {
        uint256 minD = inbox.MIN_INCLUSION_DELAY();
        uint256 maxD = inbox.MAX_INCLUSION_DELAY();
        new ForcedInclusionInbox(_cfg(minD));
        new ForcedInclusionInbox(_cfg(maxD));
        vm.expectRevert(ForcedInclusionInbox.InvalidConfig.selector);
        new ForcedInclusionInbox(_cfg(minD - 1));
        vm.expectRevert(ForcedInclusionInbox.InvalidConfig.selector);
        new ForcedInclusionInbox(_cfg(maxD + 1));

        ForcedInclusionInbox.Config memory c = _cfg(DELAY);
        c.feeDoublingStep = 0;
        vm.expectRevert(ForcedInclusionInbox.InvalidConfig.selector);
        new ForcedInclusionInbox(c);
        c = _cfg(DELAY);
        c.maxPerL1Block = 0;
        vm.expectRevert(ForcedInclusionInbox.InvalidConfig.selector);
        new ForcedInclusionInbox(c);
        c = _cfg(DELAY);
        c.maxTxSize = inbox.MAX_TX_SIZE_LIMIT() + 1;
        vm.expectRevert(ForcedInclusionInbox.InvalidConfig.selector);
        new ForcedInclusionInbox(c);
        c = _cfg(DELAY);
        c.feeRecipient = address(0);
        vm.expectRevert(ForcedInclusionInbox.InvalidConfig.selector);
        new ForcedInclusionInbox(c);
    }

    // ------------------------------------------------------------------ order and accumulator

    function test_queueOrderAndAccumulator() public {
        bytes32 prev = bytes32(0);
        assertEq(inbox.accumulator(ROLLUP), bytes32(0), "empty accumulator");
        for (uint256 i = 0; i < 5; i++) {
            vm.roll(1000 + i * 2);
            bytes memory t = _tx(i);
            uint256 idx = _submit(i % 2 == 0 ? ALICE : BOB, ROLLUP, t);
            assertEq(idx, i, "index is the queue position");
            bytes32 acc = _acc(prev, ROLLUP, i, block.number, t);
            assertEq(inbox.accumulator(ROLLUP), acc, "head accumulator");
            assertEq(inbox.accumulatorAt(ROLLUP, i), acc, "accumulatorAt");
            prev = acc;
        }
        assertEq(inbox.count(ROLLUP), 5, "count");
        for (uint256 i = 0; i < 5; i++) {
            (bytes32 h, bytes32 acc, uint64 l1Block, uint64 dl, address sender) = inbox.entry(ROLLUP, i);
            assertEq(h, keccak256(_tx(i)), "txHash");
            assertEq(l1Block, 1000 + i * 2, "l1Block");
            assertEq(dl, 1000 + i * 2 + DELAY, "deadline");
            assertEq(sender, i % 2 == 0 ? ALICE : BOB, "sender");
            assertEq(acc, inbox.accumulatorAt(ROLLUP, i), "entry acc");
        }
        // an independent queue per rollup, bound to its rollup id
        vm.roll(1000);
        assertEq(_submit(ALICE, OTHER, _tx(0)), 0, "other rollup starts at 0");
        assertEq(inbox.accumulator(OTHER), _acc(bytes32(0), OTHER, 0, 1000, _tx(0)), "other acc");
        assertTrue(inbox.accumulator(OTHER) != inbox.accumulatorAt(ROLLUP, 0), "rollup id is bound");

        vm.expectRevert(abi.encodeWithSelector(ForcedInclusionInbox.NoSuchEntry.selector, ROLLUP, 5));
        inbox.entry(ROLLUP, 5);
        vm.expectRevert(abi.encodeWithSelector(ForcedInclusionInbox.NoSuchEntry.selector, ROLLUP, 5));
        inbox.isDue(ROLLUP, 5);
    }

    function test_rejectsRollupZero() public {
        vm.expectRevert(ForcedInclusionInbox.InvalidRollupId.selector);
        inbox.submit{value: BASE_FEE}(0, _tx(0));
    }

    // ------------------------------------------------------------------ deadline boundary

    function test_deadlineBoundary() public {
        vm.roll(5000);
        _submit(ALICE, ROLLUP, _tx(1));
        uint256 dl = inbox.deadline(ROLLUP, 0);
        assertEq(dl, 5000 + DELAY, "deadline = block + delay");

        vm.roll(dl - 1);
        assertFalse(inbox.isDue(ROLLUP, 0), "not due at deadline-1");
        assertEq(inbox.pendingCount(ROLLUP), 1, "pending at deadline-1");
        assertEq(inbox.firstPending(ROLLUP), 0, "firstPending at deadline-1");

        vm.roll(dl);
        assertTrue(inbox.isDue(ROLLUP, 0), "due at deadline");
        assertEq(inbox.pendingCount(ROLLUP), 0, "not pending at deadline");
        assertEq(inbox.firstPending(ROLLUP), 1, "firstPending at deadline");

        vm.roll(dl + 1);
        assertTrue(inbox.isDue(ROLLUP, 0), "due at deadline+1");
        assertEq(inbox.pendingCount(ROLLUP), 0, "not pending at deadline+1");
    }

    /// The same vectors ordo-engine's forced rule checks (contracts/test/fixtures/deadline.json).
    function test_deadlineBoundaryFixture() public {
        string memory json = vm.readFile("test/fixtures/deadline.json");
        uint256 submittedAt = vm.parseJsonUint(json, ".submittedAt");
        ForcedInclusionInbox shared = new ForcedInclusionInbox(_cfg(vm.parseJsonUint(json, ".inclusionDelay")));
        vm.roll(submittedAt);
        vm.prank(ALICE);
        shared.submit{value: BASE_FEE}(ROLLUP, _tx(1));
        for (uint256 i = 0; i < 3; i++) {
            string memory v = string.concat(".vectors[", vm.toString(i), "]");
            vm.roll(vm.parseJsonUint(json, string.concat(v, ".at")));
            bool due = vm.parseJsonBool(json, string.concat(v, ".due"));
            assertTrue(shared.isDue(ROLLUP, 0) == due, "isDue matches the shared vector");
        }
    }

    // ------------------------------------------------------------------ fees

    function test_feeEscalation() public {
        assertEq(inbox.fee(ROLLUP), BASE_FEE, "base fee when empty");
        // fill 3 per block (the cap) until 9 entries are pending, all within the delay
        uint256 n;
        for (uint256 b = 0; b < 3; b++) {
            vm.roll(2000 + b);
            for (uint256 k = 0; k < PER_BLOCK; k++) {
                uint256 expected = BASE_FEE << (n / STEP);
                assertEq(inbox.fee(ROLLUP), expected, "fee doubles every STEP pending");
                vm.prank(ALICE);
                inbox.submit{value: expected}(ROLLUP, _tx(n));
                n++;
            }
        }
        assertEq(inbox.pendingCount(ROLLUP), 9, "9 pending");
        assertEq(inbox.fee(ROLLUP), BASE_FEE * 4, "9 pending -> 2 doublings");
        // other rollups are not affected
        assertEq(inbox.fee(OTHER), BASE_FEE, "per-rollup fee");

        // underpaying reverts with the required amount
        vm.roll(2003);
        vm.prank(ALICE);
        vm.expectRevert(
            abi.encodeWithSelector(ForcedInclusionInbox.InsufficientFee.selector, BASE_FEE * 4, BASE_FEE * 4 - 1)
        );
        inbox.submit{value: BASE_FEE * 4 - 1}(ROLLUP, _tx(100));

        // as entries become due the fee falls back: entries of block 2000 are due at 2010
        vm.roll(2000 + DELAY);
        assertEq(inbox.pendingCount(ROLLUP), 6, "block 2000's entries are due");
        assertEq(inbox.fee(ROLLUP), BASE_FEE * 2, "6 pending -> 1 doubling");
        vm.roll(2002 + DELAY);
        assertEq(inbox.fee(ROLLUP), BASE_FEE, "all due -> base fee");

        // the fee recipient pulls all fees: 4*1 + 4*2 + 1*4 = 16 base fees
        assertEq(inbox.withdrawable(RECIPIENT), BASE_FEE * 16, "fees credited");
        uint256 before = RECIPIENT.balance;
        vm.prank(RECIPIENT);
        inbox.withdraw();
        assertEq(RECIPIENT.balance - before, BASE_FEE * 16, "fees withdrawn");
        assertEq(inbox.withdrawable(RECIPIENT), 0, "nothing left");
        vm.prank(RECIPIENT);
        vm.expectRevert(ForcedInclusionInbox.NothingToWithdraw.selector);
        inbox.withdraw();
    }

    function test_feeExponentSaturates() public view {
        uint256 maxExp = inbox.MAX_FEE_EXPONENT();
        assertEq(inbox.feeForPending(STEP * maxExp), BASE_FEE << maxExp, "at cap");
        assertEq(inbox.feeForPending(type(uint256).max), BASE_FEE << maxExp, "saturates");
    }

    function test_overpaymentIsRefundable() public {
        vm.prank(ALICE);
        inbox.submit{value: 1 ether}(ROLLUP, _tx(1));
        assertEq(inbox.withdrawable(ALICE), 1 ether - BASE_FEE, "excess credited to sender");
        assertEq(inbox.withdrawable(RECIPIENT), BASE_FEE, "fee credited to recipient");
        uint256 before = ALICE.balance;
        vm.prank(ALICE);
        assertEq(inbox.withdraw(), 1 ether - BASE_FEE, "withdraw returns amount");
        assertEq(ALICE.balance - before, 1 ether - BASE_FEE, "refund paid");
    }

    function test_zeroBaseFee() public {
        ForcedInclusionInbox.Config memory c = _cfg(DELAY);
        c.baseFee = 0;
        ForcedInclusionInbox free = new ForcedInclusionInbox(c);
        assertEq(free.submit(ROLLUP, _tx(1)), 0, "free submit");
        assertEq(free.withdrawable(RECIPIENT), 0, "no fee");
    }

    // ------------------------------------------------------------------ caps

    function test_perBlockCap() public {
        vm.roll(3000);
        for (uint256 i = 0; i < PER_BLOCK; i++) {
            _submit(ALICE, ROLLUP, _tx(i));
        }
        uint256 f = inbox.fee(ROLLUP);
        vm.prank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(ForcedInclusionInbox.BlockCapReached.selector, ROLLUP, PER_BLOCK));
        inbox.submit{value: f}(ROLLUP, _tx(99));
        // the cap is per rollup
        _submit(ALICE, OTHER, _tx(99));
        // and per L1 block
        vm.roll(3001);
        assertEq(_submit(ALICE, ROLLUP, _tx(99)), PER_BLOCK, "next block accepts again");
    }

    function test_sizeCap() public {
        bytes memory exact = new bytes(MAX_SIZE);
        exact[0] = 0x01;
        _submit(ALICE, ROLLUP, exact);

        bytes memory big = new bytes(MAX_SIZE + 1);
        vm.prank(ALICE);
        vm.expectRevert(
            abi.encodeWithSelector(ForcedInclusionInbox.TransactionTooLarge.selector, MAX_SIZE + 1, MAX_SIZE)
        );
        inbox.submit{value: 1 ether}(ROLLUP, big);

        vm.prank(ALICE);
        vm.expectRevert(ForcedInclusionInbox.EmptyTransaction.selector);
        inbox.submit{value: 1 ether}(ROLLUP, "");
    }

    // ------------------------------------------------------------------ replay

    function test_replayRejected() public {
        bytes memory t = _tx(42);
        _submit(ALICE, ROLLUP, t);
        assertTrue(inbox.queued(ROLLUP, keccak256(t)), "marked queued");

        // same bytes, same rollup: rejected, in the same block, later, and after the deadline
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(ForcedInclusionInbox.AlreadyQueued.selector, ROLLUP, keccak256(t)));
        inbox.submit{value: 1 ether}(ROLLUP, t);
        vm.roll(block.number + DELAY + 1);
        vm.prank(BOB);
        vm.expectRevert(abi.encodeWithSelector(ForcedInclusionInbox.AlreadyQueued.selector, ROLLUP, keccak256(t)));
        inbox.submit{value: 1 ether}(ROLLUP, t);

        // a failed submission leaves nothing behind
        assertEq(inbox.count(ROLLUP), 1, "still one entry");

        // the same bytes for another rollup are a different entry (the accumulator binds rollupId)
        assertEq(_submit(BOB, OTHER, t), 0, "other rollup accepts");
    }

    // ------------------------------------------------------------------ reentrancy

    function test_reentrancyOnWithdraw() public {
        // honest users leave funds in the contract
        vm.prank(BOB);
        inbox.submit{value: 5 ether}(ROLLUP, _tx(1));
        ReentrantWithdrawer attacker = new ReentrantWithdrawer(inbox);
        vm.deal(address(attacker), 0);
        attacker.overpay{value: 1 ether + BASE_FEE}(ROLLUP, _tx(2));
        assertEq(inbox.withdrawable(address(attacker)), 1 ether, "attacker credit");

        uint256 held = address(inbox).balance;
        attacker.drain();

        assertEq(address(attacker).balance, 1 ether, "attacker got exactly its credit");
        assertEq(address(inbox).balance, held - 1 ether, "contract lost only that");
        assertEq(attacker.reentries(), 1, "receive hook ran");
        assertFalse(attacker.reentrySucceeded(), "reentry failed");
        assertEq(attacker.lastError(), abi.encodeWithSelector(ForcedInclusionInbox.Reentrancy.selector), "lock hit");
        assertEq(inbox.withdrawable(address(attacker)), 0, "credit cleared");
        assertEq(inbox.withdrawable(BOB), 5 ether - BASE_FEE, "bob untouched");
        assertEq(inbox.count(7), 0, "no submit during withdraw");
    }

    function test_failedTransferKeepsCredit() public {
        Refuser r = new Refuser();
        r.overpay{value: 1 ether}(inbox, ROLLUP, _tx(3));
        vm.expectRevert(ForcedInclusionInbox.TransferFailed.selector);
        r.drain(inbox);
        assertEq(inbox.withdrawable(address(r)), 1 ether - BASE_FEE, "credit kept after failed transfer");
    }

    // ------------------------------------------------------------------ events

    function test_eventContents() public {
        vm.roll(4242);
        bytes memory t0 = _tx(0);
        bytes memory t1 = _tx(1);
        bytes32 acc0 = _acc(bytes32(0), ROLLUP, 0, 4242, t0);
        bytes32 acc1 = _acc(acc0, ROLLUP, 1, 4242, t1);

        vm.expectEmit(true, true, true, true, address(inbox));
        emit ForcedTransaction(
            ROLLUP, 0, keccak256(t0), ALICE, 4242, uint64(4242 + DELAY), bytes32(0), acc0, BASE_FEE, t0
        );
        vm.prank(ALICE);
        inbox.submit{value: 1 ether}(ROLLUP, t0);

        // rebuild the queue from raw logs alone
        vm.recordLogs();
        vm.prank(BOB);
        inbox.submit{value: BASE_FEE}(ROLLUP, t1);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one log");
        Vm.Log memory l = logs[0];
        assertEq(l.emitter, address(inbox), "emitter");
        assertEq(l.topics.length, 4, "3 indexed fields");
        assertEq(
            l.topics[0],
            keccak256("ForcedTransaction(uint64,uint256,bytes32,address,uint64,uint64,bytes32,bytes32,uint256,bytes)"),
            "topic0"
        );
        assertEq(uint256(l.topics[1]), ROLLUP, "rollupId topic");
        assertEq(uint256(l.topics[2]), 1, "index topic");
        assertEq(l.topics[3], keccak256(t1), "txHash topic");
        (
            address sender,
            uint64 l1Block,
            uint64 dl,
            bytes32 prevAcc,
            bytes32 acc,
            uint256 paid,
            bytes memory signedTx
        ) = abi.decode(l.data, (address, uint64, uint64, bytes32, bytes32, uint256, bytes));
        assertEq(sender, BOB, "sender");
        assertEq(l1Block, 4242, "l1Block");
        assertEq(dl, 4242 + DELAY, "deadline");
        assertEq(prevAcc, acc0, "prev accumulator");
        assertEq(acc, acc1, "accumulator");
        assertEq(paid, BASE_FEE, "fee");
        assertEq(signedTx, t1, "tx bytes");
        // the log alone is enough to recompute the accumulator
        assertEq(keccak256(abi.encode(prevAcc, uint256(ROLLUP), uint256(1), uint256(l1Block), keccak256(signedTx))), acc, "rebuild");
    }

    // ------------------------------------------------------------------ pending count search

    /// pendingCount must match a brute-force scan for any submission pattern and any current block.
    function testFuzz_pendingCountMatchesScan(uint256 seed, uint8 nBlocks, uint8 lookAhead) public {
        uint256 blocks = uint256(nBlocks) % 40 + 1;
        uint256 start = 10_000;
        uint256 b = start;
        for (uint256 i = 0; i < blocks; i++) {
            b += uint256(keccak256(abi.encode(seed, i, "gap"))) % 4; // 0 gap = same block
            vm.roll(b);
            uint256 per = uint256(keccak256(abi.encode(seed, i, "per"))) % 2 + 1;
            for (uint256 k = 0; k < per; k++) {
                if (inbox.count(ROLLUP) > 0) {
                    (,, uint64 lastBlock,,) = inbox.entry(ROLLUP, inbox.count(ROLLUP) - 1);
                    // respect the per-block cap
                    uint256 same;
                    for (uint256 j = inbox.count(ROLLUP); j > 0; j--) {
                        (,, uint64 lb,,) = inbox.entry(ROLLUP, j - 1);
                        if (lb != lastBlock) break;
                        same++;
                    }
                    if (lastBlock == b && same >= PER_BLOCK) break;
                }
                _submit(ALICE, ROLLUP, _tx(i * 8 + k));
            }
        }
        vm.roll(b + uint256(lookAhead) % (DELAY + 3));
        uint256 n = inbox.count(ROLLUP);
        uint256 pending;
        for (uint256 i = 0; i < n; i++) {
            if (!inbox.isDue(ROLLUP, i)) pending++;
        }
        assertEq(inbox.pendingCount(ROLLUP), pending, "pending count");
        assertEq(inbox.firstPending(ROLLUP), n - pending, "first pending");
    }
}
