import KlammerProtocol
public import KlammerStore
import Metrics

/// The broker's protocol-level metrics (swift-metrics; klammerd exports them as Prometheus text on `/metrics`).
///
/// Handles are computed, not stored, so they bind to whatever backend is bootstrapped when the event happens (the
/// broker may be built before `MetricsSystem.bootstrap` in tests). Every event here is per message or per
/// connection. Label values are bounded: error code names (SPEC.md §6), TLS error codes, queue ids of registered
/// participants.
public enum BrokerMetrics {
    static var accepted: Counter { Counter(label: "klammer_messages_accepted_total") }
    static var acceptedBytes: Counter { Counter(label: "klammer_message_bytes_accepted_total") }
    static var delivered: Counter { Counter(label: "klammer_messages_delivered_total") }
    static var deliveredBytes: Counter { Counter(label: "klammer_message_bytes_delivered_total") }
    static var acknowledged: Counter { Counter(label: "klammer_messages_acked_total") }
    static func rejected(_ code: ErrorCode) -> Counter {
        Counter(label: "klammer_messages_rejected_total", dimensions: [("reason", code.name)])
    }
    /// Connections the session refused because of their participant (UNKNOWN_PARTICIPANT …), by code name.
    static func connectionRefused(_ code: ErrorCode) -> Counter {
        Counter(label: "klammer_connections_refused_total", dimensions: [("reason", code.name)])
    }
    static var openConnections: Meter { Meter(label: "klammer_connections_open") }
    /// Requests refused with RATE_LIMITED (requests per second per participant).
    static var rateLimited: Counter { Counter(label: "klammer_requests_rate_limited_total") }
    static func tlsFailure(_ reason: String) -> Counter {
        Counter(label: "klammer_tls_handshake_failures_total", dimensions: [("reason", reason)])
    }

    /// Sets the queue gauges from a store snapshot: per queue and state, plus totals of in-flight and dead-lettered
    /// entries (what alerts usually watch).
    public static func updateQueueGauges(_ statistics: [QueueStatistics]) {
        var inFlight = 0
        var dead = 0
        for queue in statistics {
            for (state, count) in [
                ("ready", queue.ready), ("in_flight", queue.inFlight), ("delayed", queue.delayed), ("dead_lettered", queue.deadLettered)
            ] {
                Gauge(label: "klammer_queue_messages", dimensions: [("queue", queue.recipient), ("state", state)]).record(count)
            }
            inFlight += queue.inFlight
            dead += queue.deadLettered
        }
        Gauge(label: "klammer_messages_in_flight").record(inFlight)
        Gauge(label: "klammer_dead_letters").record(dead)
        Gauge(label: "klammer_queues").record(statistics.count)
    }
}
