//! Small objects live inline (in their record, in memory) only up to `--inline-budget-bytes`;
//! beyond it they go to block files, and a restart charges replayed bodies to the same budget.

use crate::support::*;

#[test]
fn small_objects_beyond_the_inline_budget_go_to_block_files_and_read_back() {
    // Room for two 4 KiB bodies, not three.
    let mut server = Server::start_with(1, &["--inline-budget-bytes", "10000"]);
    let mut client = server.client();
    client.put("/inline-budget", b"").expect(200, "create bucket");
    let bodies: Vec<Vec<u8>> = (0..4).map(|i| random_bytes(4096, 40 + i)).collect();
    for (i, body) in bodies.iter().take(2).enumerate() {
        client.put(&format!("/inline-budget/k{i}"), body).expect(200, "inline put");
    }
    server.expect_block_files(0, "two bodies fit the budget");
    client.put("/inline-budget/k2", &bodies[2]).expect(200, "put beyond the budget");
    server.expect_block_files(1, "the third body is stored in a block file");

    // Deleting an inline object frees its share of the budget.
    client.delete("/inline-budget/k0").expect(204, "delete");
    client.put("/inline-budget/k3", &bodies[3]).expect(200, "put after a delete");
    server.expect_block_files(1, "the freed share holds the fourth body inline");

    for (i, body) in bodies.iter().enumerate().skip(1) {
        let got = client.get(&format!("/inline-budget/k{i}")).expect(200, "get");
        assert!(got.body == *body, "k{i} reads back");
    }

    // After a restart the replayed inline bodies fill the budget again: the next small
    // object goes to a block file.
    server.kill9_and_restart();
    let mut client = server.client();
    client.put("/inline-budget/k4", &bodies[0]).expect(200, "put after restart");
    server.expect_block_files(2, "replayed bodies are charged to the budget");
    for (i, body) in bodies.iter().enumerate().skip(1) {
        let got = client.get(&format!("/inline-budget/k{i}")).expect(200, "get after restart");
        assert!(got.body == *body, "k{i} reads back after restart");
    }
}
