import Foundation

/// What the console was given since the last change it was told about, so that a commit touching none of it is not
/// reported: an idle console then reads nothing and draws nothing. Review windows are checked against the review
/// total and head that the daemon's change line carries (docs/protocol.md, "The change feed"); any other view
/// (Mine, Grants, Audit, a search) is read again after every change.
struct ShownPages {
    /// A window of the review queue as it was read: its rows' ids and the queue's total.
    struct ReviewWindow: Equatable {
        var filter: String
        var offset: Int
        var limit: Int
        var ids: [Int64]
        var total: Int
    }

    private(set) var review: [ReviewWindow] = []
    /// A page other than an unfiltered review window was read (or a read failed): every change is reported.
    private(set) var other = false

    /// At most this many windows are kept; a console that read more without a change (scrolling) reads again.
    static let maxWindows = 16

    mutating func showedReview(filter: String, offset: Int, limit: Int, ids: [Int64], total: Int) {
        // A window read again replaces what it showed before.
        review.removeAll { $0.filter == filter && $0.offset == offset && $0.limit == limit }
        review.append(ReviewWindow(filter: filter, offset: offset, limit: limit, ids: ids, total: total))
        if review.count > ShownPages.maxWindows { other = true }
    }

    mutating func showedOther() { other = true }

    /// After a change was reported: the views read next are what it must compare with.
    mutating func reset() {
        review = []
        other = false
    }

    /// Whether the commits `notice` reports may change anything shown: a row shown, or a review window (its total,
    /// or which requests it holds). True whenever that cannot be told (no ids, no review head, nothing recorded).
    func touched(by notice: ChangeNotice) -> Bool {
        guard let changed = notice.ids, !other, !review.isEmpty else { return true }
        guard let total = notice.reviewTotal, let head = notice.reviewHead else { return true }
        for w in review {
            guard w.filter.isEmpty, total == w.total, changed.isDisjoint(with: w.ids) else { return true }
            let end = min(w.offset + w.limit, total)
            if w.offset >= end {
                if !w.ids.isEmpty { return true }
                continue
            }
            guard end <= head.count, Array(head[w.offset..<end]) == w.ids else { return true }
        }
        return false
    }
}
