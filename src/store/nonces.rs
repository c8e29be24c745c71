//! The channel's recent nonces, kept across a clean restart (protocol §3).

use rusqlite::params;

use super::{Store, StoreError};

impl Store {
    /// Saves the channel's recent nonces (replacing any saved before), at shutdown.
    pub async fn save_nonces(&self, nonces: Vec<([u8; 24], i64)>) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM replay_nonces", [])?;
            {
                let mut stmt =
                    tx.prepare("INSERT OR IGNORE INTO replay_nonces (nonce, ts) VALUES (?1, ?2)")?;
                for (nonce, ts) in &nonces {
                    stmt.execute(params![&nonce[..], ts])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Takes the saved nonces with `ts >= since` (and forgets them all), at start.
    pub async fn take_nonces(&self, since: i64) -> Result<Vec<([u8; 24], i64)>, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let nonces = {
                let mut stmt =
                    tx.prepare("SELECT nonce, ts FROM replay_nonces WHERE ts >= ?1 ORDER BY ts")?;
                let rows = stmt.query_map([since], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
                })?;
                rows.filter_map(|r| match r {
                    Ok((n, ts)) => n.try_into().ok().map(|n| Ok((n, ts))),
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()?
            };
            tx.execute("DELETE FROM replay_nonces", [])?;
            tx.commit()?;
            Ok(nonces)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nonces_are_kept_once_across_a_restart() {
        let store = Store::open_in_memory(1).await.unwrap();
        store
            .save_nonces(vec![([1; 24], 100), ([2; 24], 200)])
            .await
            .unwrap();
        assert_eq!(store.take_nonces(150).await.unwrap(), vec![([2; 24], 200)]);
        assert!(store.take_nonces(0).await.unwrap().is_empty());
    }
}
