import KlammerBroker

/// Moves a `PayloadSubmission` (not Sendable: it is meant to be confined to one task) from the request lane into the
/// child task that finishes it.
///
/// `@unchecked Sendable` is safe because ownership is transferred, never shared: the lane removes the submission from
/// its `uploads` table before wrapping it and never refers to it again (a CHUNK or SEND_END for the same request id
/// then finds no upload), so exactly one task — the finishing child — uses it after the handoff.
struct SubmissionHandoff: @unchecked Sendable {
    let submission: PayloadSubmission
    init(_ submission: PayloadSubmission) { self.submission = submission }
}
