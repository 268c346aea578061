public import KlammerProtocol

/// The broker's answer to SEND_BEGIN (SPEC.md §4.8 step 2).
public enum SubmissionStart {
    /// New message: answer READY(0) and stream the payload into the submission.
    case upload(PayloadSubmission)
    /// Already accepted (same sender, client message id and envelope): answer ACCEPTED with this original receipt,
    /// byte for byte; no upload.
    case duplicate(SignedReceipt)

    /// The submission, or nil for a duplicate.
    public var submission: PayloadSubmission? {
        if case .upload(let s) = self { return s } else { return nil }
    }
}
