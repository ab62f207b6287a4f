//! The public API end to end: a real store and mempool over tempdirs, certified blocks signed
//! with a BLS key (checked by `ordo_light` exactly as a threshold group key would be), events
//! pushed by hand into the engine's channel, and jsonrpsee's own HTTP and WebSocket clients.

use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use commonware_cryptography::bls12381::primitives::{group::Private, ops, variant::MinSig};
use jsonrpsee::{
    core::{
        client::{ClientT, Error as ClientError, Subscription, SubscriptionClientT},
        params::ArrayParams,
    },
    http_client::{HttpClient, HttpClientBuilder},
    rpc_params,
    ws_client::{WsClient, WsClientBuilder},
};
use ordo_engine::{Certified, Event, Handle, Preconfirmations, Status};
use ordo_light::GroupKey;
use ordo_mempool::Mempool;
use ordo_store::Store;
use ordo_types::{
    tx_hash, Batch, Block, BlockLimits, Certificate, CertificateKind, Header, L1Ref, Receipt,
    RollupBatch, RollupKind, RollupSpec,
};
use serde_json::Value;
use std::{
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::broadcast,
    task::JoinHandle,
};

const ROLLUP_A: u64 = 901;
const ROLLUP_B: u64 = 902;
const MAX_REQUEST_BYTES: u32 = 64 * 1024;
const METRICS: &str = "# HELP ordo_up Node is up.\n# TYPE ordo_up gauge\nordo_up 1\n# EOF\n";

struct Node {
    handle: Handle,
    addr: SocketAddr,
    task: JoinHandle<()>,
    signer: Private,
    group: GroupKey,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start() -> Self {
        Self::start_with(64, 16).await
    }

    async fn start_with(max_connections: u32, event_capacity: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rollups = vec![
            RollupSpec::with_defaults(ROLLUP_A, RollupKind::Opaque),
            RollupSpec::with_defaults(ROLLUP_B, RollupKind::Opaque),
        ];
        let store = Store::open(&dir.path().join("store"), BlockLimits::UNBOUNDED).unwrap();
        let included = store.clone();
        let mempool = Mempool::open(
            &dir.path().join("mempool"),
            ordo_mempool::Config {
                rollups: rollups.clone(),
                max_block_bytes: 1 << 20,
                max_pending_txs_per_rollup: 1_000,
                max_pending_bytes_per_rollup: 1 << 20,
                ttl: Duration::from_secs(600),
                clock: Default::default(),
            },
            move |hashes| included.included(hashes).unwrap(),
        )
        .unwrap();
        let handle = Handle {
            mempool,
            store,
            rollups: Arc::new(rollups),
            preconfirmations: Arc::new(RwLock::new(Preconfirmations::default())),
            events: broadcast::channel(event_capacity).0,
            status: Arc::new(RwLock::new(Status::default())),
            liveness: Default::default(),
            l1: None,
        };
        let (addr, task) = ordo_rpc::serve(
            ordo_rpc::Config {
                listen: "127.0.0.1:0".parse().unwrap(),
                max_request_bytes: MAX_REQUEST_BYTES,
                max_connections,
                health_staleness: Duration::from_secs(5),
                execution_rpc: Default::default(),
                web_dir: None,
            },
            handle.clone(),
            Arc::new(|| METRICS.to_string()),
        )
        .await
        .unwrap();
        let mut rng = commonware_utils::TestRng::new(7);
        let (signer, public) = ops::keypair::<_, MinSig>(&mut rng);
        let group = GroupKey::from_bytes(&public.encode()).unwrap();
        Self {
            handle,
            addr,
            task,
            signer,
            group,
            _dir: dir,
        }
    }

    fn http(&self, path: &str) -> HttpClient {
        HttpClientBuilder::default()
            .build(format!("http://{}{path}", self.addr))
            .unwrap()
    }

    async fn ws(&self, path: &str) -> WsClient {
        WsClientBuilder::default()
            .build(format!("ws://{}{path}", self.addr))
            .await
            .unwrap()
    }

    /// A block at `height` carrying `txs` for rollup A (rollup B empty), and its certificate.
    fn certified(&self, height: u64, txs: &[&[u8]], kind: CertificateKind) -> Certified {
        let genesis = Block::genesis(1_000, L1Ref::default(), &[ROLLUP_A, ROLLUP_B]);
        let header = Header {
            epoch: 0,
            view: height + 10,
            parent_view: height + 9,
            leader: genesis.header.leader.clone(),
            parent: genesis.digest(),
            height,
            timestamp_ms: 1_000 + height,
            l1: L1Ref::default(),
            forced: genesis.header.forced.clone(),
            batches_root: [0; 32],
        };
        let batches = vec![
            Batch::new(
                ROLLUP_A,
                txs.iter().map(|t| Bytes::copy_from_slice(t)).collect(),
            ),
            Batch::new(ROLLUP_B, vec![]),
        ];
        let block = Block::new(header, batches);
        let mut certificate = Certificate {
            kind,
            epoch: block.header.epoch,
            view: block.header.view,
            parent_view: block.header.parent_view,
            payload: block.digest(),
            signature: [0; 48],
        };
        let signature = ops::sign_message::<MinSig>(
            &self.signer,
            &certificate.signing_namespace(),
            &certificate.proposal_bytes(),
        );
        certificate.signature.copy_from_slice(&signature.encode());
        Certified::new(Arc::new(block), certificate)
    }

    fn set_last_finalized(&self, at_ms: u64) {
        let mut status = self.handle.status.write().unwrap();
        status.finalized_height = 3;
        status.last_finalized_at_ms = at_ms;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn hex0x(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn unhex(value: &Value) -> Bytes {
    hex::decode(value.as_str().unwrap().strip_prefix("0x").unwrap())
        .unwrap()
        .into()
}

/// The JSON-RPC error a call failed with.
fn rpc_error<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (i32, String, Option<String>) {
    match result {
        Err(ClientError::Call(e)) => (
            e.code(),
            e.message().to_string(),
            e.data().map(|d| d.get().to_string()),
        ),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// A raw HTTP/1.1 exchange, for what a JSON-RPC client cannot send: returns status, the
/// response head and the body.
async fn raw_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before reading all of an oversized body.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, head, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

async fn next_item(sub: &mut Subscription<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a notification within 10s")
        .expect("subscription open")
        .expect("well-formed notification")
}

#[tokio::test]
async fn submission_and_its_errors() {
    let node = Node::start().await;
    let client = node.http("/");
    let raw = [1u8, 2, 3];

    let hash: String = client
        .request("ordo_sendTransaction", rpc_params![ROLLUP_A, hex0x(raw)])
        .await
        .unwrap();
    assert_eq!(hash, hex0x(tx_hash(&raw)));
    assert!(node.handle.mempool.is_pending(&tx_hash(&raw)));

    let duplicate = client
        .request::<String, _>("ordo_sendTransaction", rpc_params![ROLLUP_A, hex0x(raw)])
        .await;
    let (code, message, data) = rpc_error(duplicate);
    assert_eq!(code, ordo_rpc::DUPLICATE);
    assert_eq!(message, "transaction already pending");
    assert_eq!(data.unwrap(), format!("\"{hash}\""));

    let unknown = client
        .request::<String, _>("ordo_sendTransaction", rpc_params![7u64, "0x01"])
        .await;
    assert_eq!(rpc_error(unknown).0, ordo_rpc::UNKNOWN_ROLLUP);

    let empty = client
        .request::<String, _>("ordo_sendTransaction", rpc_params![ROLLUP_A, "0x"])
        .await;
    let (code, message, _) = rpc_error(empty);
    assert_eq!(code, ordo_rpc::INVALID_TRANSACTION);
    assert!(message.contains("empty transaction"), "{message}");

    // Parameter errors are jsonrpsee's -32602, with serde's reason.
    for params in [
        rpc_params![ROLLUP_A, "0xzz"],
        rpc_params![ROLLUP_A, "0102"],
        rpc_params![ROLLUP_A],
        rpc_params!["901", "0x01"],
        rpc_params![ROLLUP_A, "0x01", 3],
    ] {
        let bad = client
            .request::<String, _>("ordo_sendTransaction", params)
            .await;
        assert_eq!(rpc_error(bad).0, -32602);
    }
    let short_hash = client
        .request::<Value, _>("ordo_getReceipt", rpc_params!["0x1234"])
        .await;
    let (code, message, data) = rpc_error(short_hash);
    assert_eq!(code, -32602);
    assert!(data.unwrap_or(message).contains("expected 32 bytes"));

    let missing = client
        .request::<Value, _>("ordo_noSuchMethod", rpc_params![])
        .await;
    assert_eq!(rpc_error(missing).0, -32601);
}

/// A JSON-RPC batch of submissions: answers in request order (errors in place), and the
/// transactions enter their lane in the order sent, as a sender's nonces must.
#[tokio::test]
async fn batched_submissions_keep_their_order() {
    let node = Node::start().await;
    let client = node.http("/");
    let txs: Vec<Vec<u8>> = (0..120u32).map(|n| n.to_be_bytes().to_vec()).collect();
    let mut batch = jsonrpsee::core::params::BatchRequestBuilder::new();
    for (n, tx) in txs.iter().enumerate() {
        // The 50th repeats the 10th: a duplicate, answered in its place.
        let tx = if n == 50 { &txs[10] } else { tx };
        batch
            .insert("ordo_sendTransaction", rpc_params![ROLLUP_A, hex0x(tx)])
            .unwrap();
    }
    let answers = client.batch_request::<String>(batch).await.unwrap();
    let answers: Vec<_> = answers.into_iter().collect();
    assert_eq!(answers.len(), txs.len());
    for (n, answer) in answers.iter().enumerate() {
        if n == 50 {
            assert_eq!(answer.as_ref().unwrap_err().code(), ordo_rpc::DUPLICATE);
        } else {
            assert_eq!(
                answer.as_ref().unwrap(),
                &hex0x(tx_hash(&txs[n])),
                "answer {n}"
            );
        }
    }
    let selected = node.handle.mempool.select(&|_| false).batches;
    let lane: Vec<Vec<u8>> = selected
        .iter()
        .find(|b| b.rollup == ROLLUP_A)
        .unwrap()
        .txs
        .iter()
        .map(|t| t.to_vec())
        .collect();
    let expected: Vec<Vec<u8>> = txs
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != 50)
        .map(|(_, t)| t.clone())
        .collect();
    assert_eq!(lane, expected, "lane order is the batch's order");
}

/// `ordo_sendTransactions`: one call, one answer per transaction in order (a refusal in its
/// place, shaped as `ordo_sendTransaction`'s error), and the lane keeps the order sent.
#[tokio::test]
async fn many_transactions_in_one_call() {
    let node = Node::start().await;
    let client = node.http("/");
    let txs: Vec<Vec<u8>> = (0..300u32).map(|n| n.to_be_bytes().to_vec()).collect();
    let mut sent: Vec<String> = txs.iter().map(hex0x).collect();
    sent[50] = sent[10].clone(); // a duplicate
    sent[60] = "0x".into(); // not a transaction
    let answers: Vec<Value> = client
        .request("ordo_sendTransactions", rpc_params![ROLLUP_A, &sent])
        .await
        .unwrap();
    assert_eq!(answers.len(), txs.len());
    for (n, answer) in answers.iter().enumerate() {
        match n {
            50 => {
                assert_eq!(answer["code"], ordo_rpc::DUPLICATE);
                assert_eq!(answer["data"], hex0x(tx_hash(&txs[10])));
            }
            60 => {
                assert_eq!(answer["code"], ordo_rpc::INVALID_TRANSACTION);
                assert!(answer["message"].as_str().unwrap().contains("empty"));
            }
            _ => assert_eq!(answer, &Value::from(hex0x(tx_hash(&txs[n]))), "answer {n}"),
        }
    }
    let selected = node.handle.mempool.select(&|_| false).batches;
    let lane = &selected.iter().find(|b| b.rollup == ROLLUP_A).unwrap().txs;
    let expected: Vec<&Vec<u8>> = (0..txs.len())
        .filter(|n| ![50, 60].contains(n))
        .map(|n| &txs[n])
        .collect();
    assert_eq!(lane.len(), expected.len());
    assert!(lane
        .iter()
        .zip(expected)
        .all(|(a, b)| a.as_ref() == b.as_slice()));

    // The whole call is refused, and nothing submitted, for an unknown rollup or too many.
    let unknown = client
        .request::<Value, _>("ordo_sendTransactions", rpc_params![7u64, ["0x0a0b"]])
        .await;
    assert_eq!(rpc_error(unknown).0, ordo_rpc::UNKNOWN_ROLLUP);
    let too_many = vec!["0x0a0b"; ordo_rpc_params::MAX_TXS_PER_SUBMISSION + 1];
    let refused = client
        .request::<Value, _>("ordo_sendTransactions", rpc_params![ROLLUP_A, too_many])
        .await;
    assert_eq!(rpc_error(refused).0, -32602);
    assert!(!node.handle.mempool.is_pending(&tx_hash(&[0x0a, 0x0b])));
}

#[tokio::test]
async fn rollup_path_serves_eth_send_raw_transaction() {
    let node = Node::start().await;
    let raw = b"rollup b tx";

    let rollup_b = node.http(&format!("/rollup/{ROLLUP_B}"));
    let hash: String = rollup_b
        .request("eth_sendRawTransaction", rpc_params![hex0x(raw)])
        .await
        .unwrap();
    assert_eq!(hash, hex0x(tx_hash(raw)));
    let chain_id: String = rollup_b
        .request("eth_chainId", rpc_params![])
        .await
        .unwrap();
    assert_eq!(chain_id, format!("{ROLLUP_B:#x}"));
    let status: Value = node
        .http("/")
        .request("ordo_status", rpc_params![])
        .await
        .unwrap();
    assert_eq!(status["mempoolSize"], 1);

    // Over WebSocket on the same path too.
    let ws = node.ws(&format!("/rollup/{ROLLUP_A}")).await;
    let hash: String = ws
        .request("eth_sendRawTransaction", rpc_params!["0xabcd"])
        .await
        .unwrap();
    assert_eq!(hash, hex0x(tx_hash(&[0xab, 0xcd])));

    let unknown = node
        .http("/rollup/7")
        .request::<String, _>("eth_sendRawTransaction", rpc_params!["0x01"])
        .await;
    assert_eq!(rpc_error(unknown).0, ordo_rpc::UNKNOWN_ROLLUP);

    let elsewhere = node
        .http("/")
        .request::<String, _>("eth_sendRawTransaction", rpc_params!["0x01"])
        .await;
    let (code, message, _) = rpc_error(elsewhere);
    assert_eq!(code, -32601);
    assert!(message.contains("/rollup/<id>"), "{message}");

    let (status, _, _) = raw_http(node.addr, "POST", "/rollup/abc", b"{}").await;
    assert_eq!(status, 400);
    let (status, _, _) = raw_http(node.addr, "POST", "/nowhere", b"{}").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn malformed_and_oversized_requests() {
    let node = Node::start().await;

    let (_, _, body) = raw_http(node.addr, "POST", "/", b"{not json").await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], -32700);
    assert_eq!(body["error"]["message"], "Parse error");

    let (_, _, body) = raw_http(node.addr, "POST", "/", br#"{"jsonrpc":"2.0","id":1}"#).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], -32600);

    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ordo_sendTransaction","params":[901,"0x{}"]}}"#,
        "00".repeat(MAX_REQUEST_BYTES as usize)
    );
    let (status, _, body) = raw_http(node.addr, "POST", "/", huge.as_bytes()).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], -32007);
    assert_eq!(body["error"]["message"], "Request is too big");

    // The client sees a failure too, and nothing reached the mempool.
    let params: ArrayParams = rpc_params![ROLLUP_A, format!("0x{}", "00".repeat(40_000))];
    assert!(node
        .http("/")
        .request::<String, _>("ordo_sendTransaction", params)
        .await
        .is_err());
    assert_eq!(node.handle.mempool.len(), 0);
}

#[tokio::test]
async fn receipts_blocks_and_batches_verify_with_the_group_key() {
    let node = Node::start().await;
    let client = node.http("/");
    let txs: [&[u8]; 3] = [b"first", b"second", b"third"];
    for tx in txs {
        let _: String = client
            .request("ordo_sendTransaction", rpc_params![ROLLUP_A, hex0x(tx)])
            .await
            .unwrap();
    }
    let target = tx_hash(txs[1]);

    let unknown: Value = client
        .request("ordo_getReceipt", rpc_params![hex0x([9u8; 32])])
        .await
        .unwrap();
    assert_eq!(unknown, serde_json::json!({"status": "unknown"}));
    let pending: Value = client
        .request("ordo_getReceipt", rpc_params![hex0x(target)])
        .await
        .unwrap();
    assert_eq!(pending["status"], "pending");

    node.handle
        .store
        .record_rejection(&[8u8; 32], "expired after 600s")
        .unwrap();
    let rejected: Value = client
        .request("ordo_getReceipt", rpc_params![hex0x([8u8; 32])])
        .await
        .unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reason"], "expired after 600s");

    // The engine indexes a finalized block, then announces it.
    let certified = node.certified(1, &txs, CertificateKind::Finalization);
    node.handle
        .store
        .index_finalized(&certified.block, &certified.certificate)
        .unwrap();
    // Nobody subscribes here, so the send finds no receiver; reads must not depend on it.
    let _ = node.handle.events.send(Event::Finalized(certified.clone()));

    let found: Value = client
        .request("ordo_getReceipt", rpc_params![hex0x(target)])
        .await
        .unwrap();
    assert_eq!(found["status"], "finalized");
    let receipt = &found["receipt"];
    assert_eq!(receipt["txHash"], hex0x(target));
    assert_eq!(receipt["rollup"], ROLLUP_A);
    assert_eq!(receipt["height"], 1);
    assert_eq!(receipt["index"], 1);
    assert_eq!(receipt["view"], 11);
    assert_eq!(receipt["certificate"]["kind"], "finalization");
    assert_eq!(receipt["blockDigest"], hex0x(certified.block.digest().0));
    let decoded = Receipt::decode_cfg(unhex(&receipt["encoded"]), &16).unwrap();
    assert_eq!(decoded.tx_hash, target);
    let batch_root = decoded.tx_proof.root(&target).expect("tx proof");
    assert!(decoded.batch_proof.verify(
        &Batch::leaf(ROLLUP_A, 0, &batch_root),
        &decoded.header.batches_root
    ));
    assert_eq!(
        node.group.verify_receipt(&decoded),
        Ok(CertificateKind::Finalization)
    );

    let block: Value = client
        .request("ordo_getBlock", rpc_params![1])
        .await
        .unwrap();
    assert_eq!(block["status"], "finalized");
    assert_eq!(block["txCount"], 3);
    assert_eq!(block["batches"][0]["txHashes"][1], hex0x(target));
    assert_eq!(block["batches"][1]["txCount"], 0);
    let decoded = Block::decode_cfg(unhex(&block["encoded"]), &BlockLimits::UNBOUNDED).unwrap();
    assert_eq!(decoded, *certified.block);

    let batch: Value = client
        .request("ordo_getRollupBatch", rpc_params![ROLLUP_A, 1])
        .await
        .unwrap();
    assert_eq!(batch["status"], "finalized");
    assert_eq!(batch["txs"][2], hex0x(txs[2]));
    let decoded =
        RollupBatch::decode_cfg(unhex(&batch["encoded"]), &BlockLimits::UNBOUNDED).unwrap();
    assert_eq!(
        node.group.verify_rollup_batch(&decoded),
        Ok(CertificateKind::Finalization)
    );
    let stream: Vec<Value> = client
        .request("ordo_getRollupBatches", rpc_params![ROLLUP_B, 0])
        .await
        .unwrap();
    assert_eq!(stream.len(), 1);
    assert_eq!(stream[0]["txs"], serde_json::json!([]));

    let missing = client
        .request::<Value, _>("ordo_getBlock", rpc_params![2])
        .await;
    assert_eq!(rpc_error(missing).0, ordo_rpc::NOT_FOUND);
    let missing = client
        .request::<Value, _>("ordo_getRollupBatch", rpc_params![ROLLUP_A, 2])
        .await;
    assert_eq!(rpc_error(missing).0, ordo_rpc::NOT_FOUND);
    let unknown = client
        .request::<Value, _>("ordo_getRollupBatch", rpc_params![7, 1])
        .await;
    assert_eq!(rpc_error(unknown).0, ordo_rpc::UNKNOWN_ROLLUP);

    let status: Value = client.request("ordo_status", rpc_params![]).await.unwrap();
    assert_eq!(status["indexedHeight"], 1);
    assert_eq!(status["rollups"][0]["id"], ROLLUP_A);
    assert_eq!(status["rollups"][1]["kind"], "opaque");
}

#[tokio::test]
async fn subscriptions_follow_certified_blocks() {
    let node = Node::start().await;
    let ws = node.ws("/").await;
    let txs: [&[u8]; 2] = [b"alpha", b"beta"];
    let wanted = tx_hash(txs[1]);

    let mut receipts: Subscription<Value> = ws
        .subscribe(
            "ordo_subscribeReceipts",
            rpc_params![vec![hex0x(wanted)]],
            "ordo_unsubscribeReceipts",
        )
        .await
        .unwrap();
    let mut everything: Subscription<Value> = ws
        .subscribe(
            "ordo_subscribeReceipts",
            rpc_params![],
            "ordo_unsubscribeReceipts",
        )
        .await
        .unwrap();
    let mut batches: Subscription<Value> = ws
        .subscribe(
            "ordo_subscribeRollupBatches",
            rpc_params![ROLLUP_A],
            "ordo_unsubscribeRollupBatches",
        )
        .await
        .unwrap();

    let notarized = node.certified(1, &txs, CertificateKind::Notarization);
    let finalized = node.certified(1, &txs, CertificateKind::Finalization);
    let digest = hex0x(notarized.block.digest().0);
    node.handle
        .events
        .send(Event::Notarized(notarized))
        .unwrap();
    node.handle
        .events
        .send(Event::Finalized(finalized))
        .unwrap();

    for status in ["notarized", "finalized"] {
        // One notification per block, carrying the receipts the filter lets through.
        let filtered = next_item(&mut receipts).await;
        assert_eq!(filtered["status"], status);
        assert_eq!(filtered["height"], 1);
        assert_eq!(filtered["blockDigest"], digest);
        let [tx] = filtered["txs"].as_array().expect("an array").as_slice() else {
            panic!("one transaction passes the filter: {filtered}");
        };
        assert_eq!(tx["txHash"], hex0x(wanted));
        assert_eq!(tx["index"], 1);
        assert_eq!(tx["rollup"], ROLLUP_A);

        let all = next_item(&mut everything).await;
        assert_eq!(all["status"], status);
        let hashes: Vec<&Value> = all["txs"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| &r["txHash"])
            .collect();
        assert_eq!(
            hashes,
            txs.map(|tx| Value::from(hex0x(tx_hash(tx))))
                .iter()
                .collect::<Vec<_>>()
        );

        let batch = next_item(&mut batches).await;
        assert_eq!(batch["status"], status);
        assert_eq!(
            batch["txs"],
            serde_json::json!([hex0x(txs[0]), hex0x(txs[1])])
        );
        let decoded =
            RollupBatch::decode_cfg(unhex(&batch["encoded"]), &BlockLimits::UNBOUNDED).unwrap();
        assert!(node.group.verify_rollup_batch(&decoded).is_ok());
    }
    receipts.unsubscribe().await.unwrap();

    let unknown = ws
        .subscribe::<Value, _>(
            "ordo_subscribeRollupBatches",
            rpc_params![7],
            "ordo_unsubscribeRollupBatches",
        )
        .await;
    assert_eq!(rpc_error(unknown).0, ordo_rpc::UNKNOWN_ROLLUP);
    let bad = ws
        .subscribe::<Value, _>(
            "ordo_subscribeReceipts",
            rpc_params![vec!["0x12"]],
            "ordo_unsubscribeReceipts",
        )
        .await;
    assert_eq!(rpc_error(bad).0, -32602);
}

#[tokio::test]
async fn lagging_subscriber_is_closed_without_blocking_the_engine() {
    // Room for 2 events: the engine's send never waits, and the subscriber loses its place.
    let node = Node::start_with(64, 2).await;
    let ws = node.ws("/").await;
    let mut batches: Subscription<Value> = ws
        .subscribe(
            "ordo_subscribeRollupBatches",
            rpc_params![ROLLUP_A],
            "ordo_unsubscribeRollupBatches",
        )
        .await
        .unwrap();
    // On a current-thread runtime the subscription task cannot run while this loop sends.
    for height in 1..=10 {
        let c = node.certified(height, &[b"x"], CertificateKind::Notarization);
        node.handle.events.send(Event::Notarized(c)).unwrap();
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = batches.next().await {
            item.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "the lagging subscription must be closed");
    // The connection survives; only the subscription ended.
    let status: Value = ws.request("ordo_status", rpc_params![]).await.unwrap();
    assert_eq!(status["rollups"][0]["id"], ROLLUP_A);
}

#[tokio::test]
async fn health_and_metrics() {
    let node = Node::start().await;

    let (status, _, body) = raw_http(node.addr, "GET", "/health", b"").await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, body["status"].as_str()), (503, Some("starting")));

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    node.set_last_finalized(now_ms);
    let (status, head, body) = raw_http(node.addr, "GET", "/health", b"").await;
    assert!(head.contains("content-type: application/json"));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    assert_eq!(body["finalizedHeight"], 3);

    node.set_last_finalized(now_ms - 60_000);
    let (status, _, body) = raw_http(node.addr, "GET", "/health", b"").await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, body["status"].as_str()), (503, Some("stale")));

    let (status, head, body) = raw_http(node.addr, "GET", "/metrics", b"").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/openmetrics-text"));
    assert_eq!(body, METRICS);
}

#[tokio::test]
async fn connection_limit_refuses_extra_websockets() {
    let node = Node::start_with(2, 16).await;
    let first = node.ws("/").await;
    let _second = node.ws("/").await;
    let third = WsClientBuilder::default()
        .build(format!("ws://{}/", node.addr))
        .await;
    assert!(third.is_err(), "a third connection must be refused");
    drop(first);
    // The slot frees once the first connection is gone.
    let mut reconnected = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(ws) = WsClientBuilder::default()
            .build(format!("ws://{}/", node.addr))
            .await
        {
            reconnected = Some(ws);
            break;
        }
    }
    assert!(reconnected.is_some());
}
