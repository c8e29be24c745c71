//! A build without the feature `node` (the fuzz targets'): `Node` has no value, so it cannot
//! be started and none of its methods can run; the code that holds a node compiles unchanged.

use std::time::Duration;

use super::dht_guard::GuardStats;
use super::{IpfsError, IpnsName, NodeConfig};

/// No node: this build was made without the feature `node`.
#[derive(Debug, Clone)]
pub enum Node {}

impl Node {
    /// Always fails: there is no node in this build.
    pub async fn start(_config: &NodeConfig, _node_key: &[u8; 32]) -> Result<Node, IpfsError> {
        Err(IpfsError::Start(
            "this build of identity-box has no IPFS node (it was built without the feature \
             `node`); build it with the default features"
                .into(),
        ))
    }

    pub fn peer_id(&self) -> &str {
        match *self {}
    }

    pub async fn listen_addrs(&self) -> Vec<String> {
        match *self {}
    }

    pub async fn peer_count(&self) -> usize {
        match *self {}
    }

    pub async fn connect(&self, _addr: &str) -> Result<(), IpfsError> {
        match *self {}
    }

    pub async fn reach(&self, _addr: &str) -> Result<super::Reach, IpfsError> {
        match *self {}
    }

    pub async fn serve_channel<F, Fut>(&self, _handler: F) -> Result<(), IpfsError>
    where
        F: Fn(String, Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Vec<u8>> + Send + 'static,
    {
        match *self {}
    }

    pub async fn channel_call(
        &self,
        _peer: &str,
        _addrs: &[String],
        _request: Vec<u8>,
    ) -> Result<Vec<u8>, IpfsError> {
        match *self {}
    }

    pub async fn put_document(&self, _doc: &serde_json::Value) -> Result<String, IpfsError> {
        match *self {}
    }

    pub async fn unpin(&self, _cid: &str) {
        match *self {}
    }

    pub async fn get_document(
        &self,
        _cid: &str,
        _timeout: Duration,
    ) -> Result<serde_json::Value, IpfsError> {
        match *self {}
    }

    pub fn publish(&self, _name: &IpnsName, _record: Vec<u8>) {
        match *self {}
    }

    pub fn provide(&self, _cid: &str) {
        match *self {}
    }

    pub async fn local_block(&self, _cid: &str) -> Option<Vec<u8>> {
        match *self {}
    }

    pub fn net_status(&self) -> super::NetStatus {
        match *self {}
    }

    pub fn dht_stats(&self) -> GuardStats {
        match *self {}
    }

    #[doc(hidden)]
    pub async fn put_raw(&self, _key: Vec<u8>, _value: Vec<u8>) -> Result<(), String> {
        match *self {}
    }

    pub async fn find_records(&self, _name: &IpnsName, _timeout: Duration) -> Vec<Vec<u8>> {
        match *self {}
    }

    pub async fn find_providers(&self, _cid: &str, _timeout: Duration) -> Vec<String> {
        match *self {}
    }

    pub async fn stop(self) {
        match self {}
    }
}
