import Foundation

/// Which requests to list.
public struct RequestQuery: Sendable, Equatable {
    public var states: [RequestState] = []
    public var requester: String?
    public var flow: String?
    public var target: String?
    public var ids: [Int64]?
    /// Case-insensitive text that must appear in the flow, target, requester, state or field values.
    public var search: String?
    public var newestFirst = true
    /// A sort and/or regular expression applied before paging (the daemon's read API; see `ListShape`).
    public var shape = ListShape()
    public var limit = 100
    public var offset = 0
    public init(states: [RequestState] = [], requester: String? = nil, limit: Int = 100, offset: Int = 0) {
        self.states = states; self.requester = requester; self.limit = limit; self.offset = offset
    }
}
