import Foundation
import XCTest
import SymModel
@testable import SymTUI

/// Which commits a console must read again for: a change line that touches nothing it shows is not reported.
final class ShownPagesTests: XCTestCase {
    /// A console that read the review head (rows 10, 9, 8 of a queue of 5) and the count.
    func headShown() -> ShownPages {
        var s = ShownPages()
        s.showedReview(filter: "", offset: 0, limit: 3, ids: [10, 9, 8], total: 5)
        s.showedReview(filter: "", offset: 0, limit: 0, ids: [], total: 5)
        return s
    }

    func notice(_ ids: Set<Int64>?, total: Int? = 5, head: [Int64]? = [10, 9, 8, 7, 6]) -> ChangeNotice {
        ChangeNotice(ids: ids, reviewTotal: total, reviewHead: head)
    }

    func testAChangeToARequestNotShownAndOutsideTheQueueIsNotReported() {
        XCTAssertFalse(headShown().touched(by: notice([42])))
        XCTAssertFalse(headShown().touched(by: notice([])))
    }

    func testAChangeToARequestOnScreenIsReported() {
        XCTAssertTrue(headShown().touched(by: notice([9])))
    }

    func testAChangeOffScreenThatChangesTheCountIsReported() {
        XCTAssertTrue(headShown().touched(by: notice([6], total: 4, head: [10, 9, 8, 7])))
    }

    func testANewRequestAtTheHeadIsReportedEvenWhenTheCountStaysTheSame() {
        // 11 arrived and 6 left at once: the total is still 5, the head is not.
        XCTAssertTrue(headShown().touched(by: notice([11, 6], head: [11, 10, 9, 8, 7])))
    }

    func testALineThatCannotNameTheChangesIsReported() {
        XCTAssertTrue(headShown().touched(by: notice(nil)))
        XCTAssertTrue(headShown().touched(by: notice([42], total: nil, head: nil)), "no review head: cannot tell")
    }

    func testAWindowBeyondTheHeadTheLineCarriesIsReported() {
        var s = ShownPages()
        s.showedReview(filter: "", offset: 3, limit: 3, ids: [7, 6], total: 5)
        XCTAssertFalse(s.touched(by: notice([42])))
        XCTAssertTrue(s.touched(by: notice([42], head: [10, 9, 8])), "the head does not reach the window")
    }

    func testOtherViewsAndSearchesAreReadAgainAfterEveryChange() {
        var mine = headShown()
        mine.showedOther()
        XCTAssertTrue(mine.touched(by: notice([42])))
        var search = ShownPages()
        search.showedReview(filter: "db", offset: 0, limit: 3, ids: [9], total: 1)
        XCTAssertTrue(search.touched(by: notice([42])))
        XCTAssertTrue(ShownPages().touched(by: notice([42])), "nothing recorded: cannot tell")
    }

    func testAfterAReportedChangeOnlyWhatIsReadNextCounts() {
        var s = headShown()
        s.showedOther()
        s.reset()
        s.showedReview(filter: "", offset: 0, limit: 3, ids: [10, 9, 8], total: 5)
        XCTAssertFalse(s.touched(by: notice([42])))
    }

    func testChangeLinesAreMergedUntilTaken() throws {
        var n = ChangeNotice(ids: [])
        n.merge(ChangeLine(try JSONValue.parse(#"{"v":1,"changed":true,"version":3,"ids":[4,5],"review":2,"review_head":[5,4]}"#)))
        n.merge(ChangeLine(try JSONValue.parse(#"{"v":1,"changed":true,"version":4,"ids":[6],"review":3,"review_head":[6,5,4]}"#)))
        XCTAssertEqual(n, ChangeNotice(ids: [4, 5, 6], reviewTotal: 3, reviewHead: [6, 5, 4]))
        n.merge(ChangeLine(try JSONValue.parse(#"{"v":1,"changed":true}"#)))
        XCTAssertNil(n.ids, "an old daemon's line: anything may have changed")
        XCTAssertNil(n.reviewTotal)
    }

    /// A line with the review total but no head stands for the head the subscription's previous line carried.
    func testALineWithoutTheReviewHeadKeepsTheLastOneAndWithoutALastOneKnowsNone() throws {
        var n = ChangeNotice(ids: [])
        n.merge(ChangeLine(try JSONValue.parse(#"{"v":1,"changed":true,"version":5,"ids":[7],"review":3}"#)), lastHead: [6, 5, 4])
        XCTAssertEqual(n, ChangeNotice(ids: [7], reviewTotal: 3, reviewHead: [6, 5, 4]))
        var m = ChangeNotice(ids: [])
        m.merge(ChangeLine(try JSONValue.parse(#"{"v":1,"changed":true,"version":5,"ids":[7],"review":3}"#)))
        XCTAssertNil(m.reviewHead, "no head known: the console reads it")
        XCTAssertNil(m.reviewTotal)
    }
}
