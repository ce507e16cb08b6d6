//! Signing and verifying deletion receipts with the server's `receipt`
//! ed25519 key. The signature covers [`receipt_message`]: a domain tag and
//! the receipt's compact JSON, so changing any field breaks it.

use oriole_audit::CheckpointSignature;
use oriole_proto::{receipt_message, DeletionReceipt, SignedReceipt};

use crate::signing::{PublicKey, SigningKey};

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("not a deletion receipt: {0}")]
    Malformed(String),
    #[error("the receipt was signed with key {claimed}, not with the given key {given}")]
    OtherKey { claimed: String, given: String },
    #[error("the signature does not match: the receipt was altered or not signed by this key")]
    BadSignature,
}

pub(super) fn sign(receipt: DeletionReceipt, key: &SigningKey) -> SignedReceipt {
    let signature = key.sign(&receipt_message(&receipt));
    SignedReceipt {
        receipt,
        algorithm: "ed25519".to_owned(),
        key_id: key.key_id().to_string(),
        signature: String::from(signature),
    }
}

/// Check a receipt file's text against the server's receipt public key.
pub fn verify_receipt(text: &str, key: &PublicKey) -> Result<DeletionReceipt, ReceiptError> {
    let signed: SignedReceipt =
        serde_json::from_str(text).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    if signed.algorithm != "ed25519" {
        return Err(ReceiptError::Malformed(format!(
            "unknown algorithm {:?}",
            signed.algorithm
        )));
    }
    let signature = CheckpointSignature::try_from(signed.signature.clone())
        .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    if !key.verify(&receipt_message(&signed.receipt), &signature) {
        let given = key.key_id().to_string();
        if signed.key_id != given {
            return Err(ReceiptError::OtherKey {
                claimed: signed.key_id,
                given,
            });
        }
        return Err(ReceiptError::BadSignature);
    }
    Ok(signed.receipt)
}
