// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title ForcedInclusionInbox
/// @notice Censorship escape for rollups sequenced by Ordo. Anyone can post a signed L2 transaction
///         for a rollup together with a fee. The entry gets a queue index, an accumulator hash and a
///         deadline (an L1 block number). Ordo validators follow this contract's logs: an Ordo block
///         whose L1 reference number is >= an entry's deadline must contain every due entry of that
///         rollup in queue order (up to Ordo's per-block cap), otherwise honest validators reject it.
///
/// Rules (all fixed at construction; there is no owner, no pause, no upgrade):
/// - `deadline = block.number + inclusionDelay`. An entry is *due* at L1 block `n` iff `n >= deadline`,
///   and *pending* iff it is not due (`n < deadline`). Consumption happens off-chain (proven by the
///   validators' certificates), so "pending" is defined by time, not by consumption.
/// - `fee = baseFee << (pending / feeDoublingStep)`: the fee doubles every `feeDoublingStep` entries
///   still pending for the same rollup (exponent capped at `MAX_FEE_EXPONENT`).
/// - At most `maxPerL1Block` entries per rollup per L1 block, and `1 <= signedTx.length <= maxTxSize`.
/// - The same `(rollupId, keccak256(signedTx))` can be queued only once (replay protection: the same
///   signed bytes are the same L2 transaction, and Ordo's duplicate rule must never conflict with its
///   forced-inclusion rule).
/// - Fees are credited to `feeRecipient`, any overpayment to the sender; both are pulled with
///   `withdraw()`.
/// - Accumulator (per rollup, index i from 0, acc_{-1} = 0):
///   `acc_i = keccak256(abi.encode(acc_{i-1}, uint256(rollupId), uint256(i), uint256(l1Block), keccak256(signedTx)))`
///   i.e. five 32-byte big-endian words.
contract ForcedInclusionInbox {
    // ---------------------------------------------------------------- bounds on construction
    uint256 public constant MIN_INCLUSION_DELAY = 5; // 1 minute of L1 blocks
    uint256 public constant MAX_INCLUSION_DELAY = 7_200; // 1 day of L1 blocks
    uint256 public constant MAX_TX_SIZE_LIMIT = 131_072; // 128 KiB, the usual L2 tx size ceiling
    uint256 public constant MAX_PER_L1_BLOCK_LIMIT = 1_024;
    uint256 public constant MAX_FEE_EXPONENT = 64;

    // ---------------------------------------------------------------- configuration
    uint256 public immutable inclusionDelay;
    uint256 public immutable baseFee;
    uint256 public immutable feeDoublingStep;
    uint256 public immutable maxPerL1Block;
    uint256 public immutable maxTxSize;
    address public immutable feeRecipient;

    struct Config {
        uint256 inclusionDelay;
        uint256 baseFee;
        uint256 feeDoublingStep;
        uint256 maxPerL1Block;
        uint256 maxTxSize;
        address feeRecipient;
    }

    // ---------------------------------------------------------------- state
    struct Entry {
        bytes32 txHash; // keccak256(signedTx)
        bytes32 accumulator; // acc_i
        uint64 l1Block; // block.number at submission
        address sender;
    }

    /// One storage slot per rollup.
    struct Queue {
        uint64 count; // number of entries ever queued
        uint64 dueHint; // every index below this is known to be due (lazily advanced)
        uint64 lastBlock; // L1 block of the latest submission
        uint32 inLastBlock; // submissions in `lastBlock`
    }

    mapping(uint64 => Queue) internal queues;
    mapping(uint64 => mapping(uint256 => Entry)) internal entries;
    mapping(uint64 => mapping(bytes32 => bool)) public queued;
    mapping(address => uint256) public withdrawable;

    bool private transient locked;

    // ---------------------------------------------------------------- events / errors
    /// @notice Everything a node needs to rebuild the queue from logs alone.
    /// @param rollupId     the rollup (its L2 chain id)
    /// @param index        position in the rollup's queue, from 0
    /// @param txHash       keccak256(signedTx)
    /// @param sender       who paid
    /// @param l1Block      block.number at submission
    /// @param deadline     l1Block + inclusionDelay: the entry is due at L1 blocks >= deadline
    /// @param prevAccumulator acc_{index-1} (zero for index 0)
    /// @param accumulator  acc_index
    /// @param fee          fee charged (excess value is credited back to sender)
    /// @param signedTx     the raw transaction bytes to include
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

    event Withdrawal(address indexed account, uint256 amount);

    error InvalidConfig();
    error InvalidRollupId();
    error EmptyTransaction();
    error TransactionTooLarge(uint256 size, uint256 max);
    error InsufficientFee(uint256 required, uint256 provided);
    error BlockCapReached(uint64 rollupId, uint256 cap);
    error AlreadyQueued(uint64 rollupId, bytes32 txHash);
    error NoSuchEntry(uint64 rollupId, uint256 index);
    error NothingToWithdraw();
    error TransferFailed();
    error Reentrancy();

    modifier nonReentrant() {
        if (locked) revert Reentrancy();
        locked = true;
        _;
        locked = false;
    }

    constructor(Config memory cfg) {
        if (
            cfg.inclusionDelay < MIN_INCLUSION_DELAY || cfg.inclusionDelay > MAX_INCLUSION_DELAY
                || cfg.feeDoublingStep == 0 || cfg.maxPerL1Block == 0 || cfg.maxPerL1Block > MAX_PER_L1_BLOCK_LIMIT
                || cfg.maxTxSize == 0 || cfg.maxTxSize > MAX_TX_SIZE_LIMIT || cfg.feeRecipient == address(0)
                || cfg.baseFee > type(uint128).max
        ) revert InvalidConfig();
        inclusionDelay = cfg.inclusionDelay;
        baseFee = cfg.baseFee;
        feeDoublingStep = cfg.feeDoublingStep;
        maxPerL1Block = cfg.maxPerL1Block;
        maxTxSize = cfg.maxTxSize;
        feeRecipient = cfg.feeRecipient;
    }

    // ---------------------------------------------------------------- submit

    /// @notice Queue `signedTx` for `rollupId`. Pays `fee(rollupId)`; any excess is credited to the
    ///         sender (see `withdraw`).
    /// @return index the entry's position in the rollup's queue
    function submit(uint64 rollupId, bytes calldata signedTx) external payable nonReentrant returns (uint256 index) {
        if (rollupId == 0) revert InvalidRollupId();
        uint256 size = signedTx.length;
        if (size == 0) revert EmptyTransaction();
        if (size > maxTxSize) revert TransactionTooLarge(size, maxTxSize);

        bytes32 txHash = keccak256(signedTx);
        bytes32 prev;
        bytes32 acc;
        uint256 required;
        (index, prev, acc, required) = _enqueue(rollupId, txHash);

        if (required != 0) withdrawable[feeRecipient] += required;
        if (msg.value > required) withdrawable[msg.sender] += msg.value - required;

        _emitForced(rollupId, index, txHash, prev, acc, required, signedTx);
    }

    /// @dev Cap, fee and queue bookkeeping for one new entry. Reverts if the entry is not allowed.
    function _enqueue(uint64 rollupId, bytes32 txHash)
        internal
        returns (uint256 index, bytes32 prev, bytes32 acc, uint256 required)
    {
        if (queued[rollupId][txHash]) revert AlreadyQueued(rollupId, txHash);
        queued[rollupId][txHash] = true;

        Queue memory q = queues[rollupId];
        uint64 blockNumber = uint64(block.number);

        // per-rollup, per-L1-block cap
        if (q.lastBlock == blockNumber) {
            if (q.inLastBlock >= maxPerL1Block) revert BlockCapReached(rollupId, maxPerL1Block);
            q.inLastBlock += 1;
        } else {
            q.lastBlock = blockNumber;
            q.inLastBlock = 1;
        }

        // fee from the number of pending entries; remember how far entries are known to be due
        uint64 firstPending_ = _firstPending(rollupId, q.dueHint, q.count);
        q.dueHint = firstPending_;
        required = _feeFor(q.count - firstPending_);
        if (msg.value < required) revert InsufficientFee(required, msg.value);

        index = q.count;
        prev = index == 0 ? bytes32(0) : entries[rollupId][index - 1].accumulator;
        acc = keccak256(abi.encode(prev, uint256(rollupId), index, uint256(blockNumber), txHash));

        entries[rollupId][index] =
            Entry({txHash: txHash, accumulator: acc, l1Block: blockNumber, sender: msg.sender});
        q.count += 1;
        queues[rollupId] = q;
    }

    function _emitForced(
        uint64 rollupId,
        uint256 index,
        bytes32 txHash,
        bytes32 prev,
        bytes32 acc,
        uint256 required,
        bytes calldata signedTx
    ) internal {
        uint64 blockNumber = uint64(block.number);
        emit ForcedTransaction(
            rollupId,
            index,
            txHash,
            msg.sender,
            blockNumber,
            blockNumber + uint64(inclusionDelay),
            prev,
            acc,
            required,
            signedTx
        );
    }

    // ---------------------------------------------------------------- withdraw (pull payments)

    /// @notice Send the caller everything credited to it (fees for `feeRecipient`, overpayments
    ///         for senders). Checks-effects-interactions plus a reentrancy lock.
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = withdrawable[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        withdrawable[msg.sender] = 0;
        emit Withdrawal(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // ---------------------------------------------------------------- views

    /// @notice Number of entries ever queued for `rollupId` (the next index).
    function count(uint64 rollupId) external view returns (uint256) {
        return queues[rollupId].count;
    }

    /// @notice One queued entry.
    function entry(uint64 rollupId, uint256 index)
        external
        view
        returns (bytes32 txHash, bytes32 accumulator_, uint64 l1Block, uint64 deadline_, address sender)
    {
        Entry storage e = _entry(rollupId, index);
        return (e.txHash, e.accumulator, e.l1Block, e.l1Block + uint64(inclusionDelay), e.sender);
    }

    /// @notice Head accumulator of `rollupId` (zero while the queue is empty).
    function accumulator(uint64 rollupId) external view returns (bytes32) {
        uint256 n = queues[rollupId].count;
        return n == 0 ? bytes32(0) : entries[rollupId][n - 1].accumulator;
    }

    /// @notice Accumulator after entry `index` (acc_index).
    function accumulatorAt(uint64 rollupId, uint256 index) external view returns (bytes32) {
        return _entry(rollupId, index).accumulator;
    }

    /// @notice First L1 block number at which entry `index` is due.
    function deadline(uint64 rollupId, uint256 index) public view returns (uint256) {
        return uint256(_entry(rollupId, index).l1Block) + inclusionDelay;
    }

    /// @notice True iff `block.number >= deadline(rollupId, index)`.
    function isDue(uint64 rollupId, uint256 index) external view returns (bool) {
        return block.number >= deadline(rollupId, index);
    }

    /// @notice Number of entries of `rollupId` that are not yet due.
    function pendingCount(uint64 rollupId) public view returns (uint256) {
        Queue memory q = queues[rollupId];
        return q.count - _firstPending(rollupId, q.dueHint, q.count);
    }

    /// @notice Index of the first entry of `rollupId` that is not yet due (== count if none).
    function firstPending(uint64 rollupId) external view returns (uint256) {
        Queue memory q = queues[rollupId];
        return _firstPending(rollupId, q.dueHint, q.count);
    }

    /// @notice Fee to queue one more entry for `rollupId` in the current block.
    function fee(uint64 rollupId) external view returns (uint256) {
        return _feeFor(pendingCount(rollupId));
    }

    /// @notice Fee for a given number of pending entries.
    function feeForPending(uint256 pending) external view returns (uint256) {
        return _feeFor(pending);
    }

    // ---------------------------------------------------------------- internals

    function _entry(uint64 rollupId, uint256 index) internal view returns (Entry storage e) {
        if (index >= queues[rollupId].count) revert NoSuchEntry(rollupId, index);
        return entries[rollupId][index];
    }

    function _feeFor(uint256 pending) internal view returns (uint256) {
        uint256 exp = pending / feeDoublingStep;
        if (exp > MAX_FEE_EXPONENT) exp = MAX_FEE_EXPONENT;
        return baseFee << exp; // baseFee <= 2^128, so no overflow
    }

    /// @dev Deadlines are non-decreasing along the queue, so the due entries form a prefix. Starting
    ///      from `lo` (known due prefix), gallop then binary-search for the first entry that is not
    ///      due: O(log k) storage reads for k newly due entries, never a loop over the whole queue.
    function _firstPending(uint64 rollupId, uint64 lo, uint64 n) internal view returns (uint64) {
        if (lo >= n) return n;
        mapping(uint256 => Entry) storage es = entries[rollupId];
        // An entry is due iff block.number >= l1Block + inclusionDelay.
        if (block.number < inclusionDelay) return lo; // nothing can be due yet
        uint256 dueUpTo = block.number - inclusionDelay; // entries with l1Block <= dueUpTo are due
        if (es[lo].l1Block > dueUpTo) return lo;
        // invariant: es[lo] is due; find hi with es[hi] not due (or hi == n)
        uint256 step = 1;
        uint256 hi = uint256(lo) + step;
        while (hi < n && es[hi].l1Block <= dueUpTo) {
            lo = uint64(hi);
            step <<= 1;
            hi = uint256(lo) + step;
        }
        if (hi > n) hi = n;
        // binary search in (lo, hi): es[lo] due, es[hi] not due or hi == n
        while (hi - lo > 1) {
            uint256 mid = (uint256(lo) + hi) >> 1;
            if (es[mid].l1Block <= dueUpTo) lo = uint64(mid);
            else hi = mid;
        }
        return uint64(hi);
    }
}
