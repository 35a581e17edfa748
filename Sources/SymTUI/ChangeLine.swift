import SymModel

/// What one change-feed line says (docs/protocol.md, "Change subscriptions"): the requests changed (nil: anything
/// may have), and for review subscriptions the caller's review total and, when the line carries it, their queue's head.
///
/// Every idle console reads one line per commit of the whole store, so lines of the shape the daemon writes
/// (`{"v":1,"changed":true,"version":813,"ids":[4713],"review":5002}`: one flat object, plain keys, integers, booleans,
/// null and arrays of integers) are read straight from their bytes (`fast`); building the `JSONValue` and its
/// strings, and checking its keys for duplicates, was a quarter of a console's CPU for a commit it did not show. Any
/// other line goes through the full parser and reads the same.
struct ChangeLine: Equatable {
    var ids: [Int64]?
    var review: Int64?
    var reviewHead: [Int64]?

    init(ids: [Int64]?, review: Int64? = nil, reviewHead: [Int64]? = nil) {
        self.ids = ids
        self.review = review
        self.reviewHead = reviewHead
    }

    init(_ json: JSONValue) {
        ids = json["ids"]?.arrayValue?.compactMap(\.intValue)
        review = json["review"]?.intValue
        reviewHead = json["review_head"]?.arrayValue?.compactMap(\.intValue)
    }

    /// The line read with the full parser when it is not of the simple shape; nil when it is not JSON at all.
    static func read(_ bytes: ArraySlice<UInt8>) -> ChangeLine? {
        if let line = fast(bytes) { return line }
        return (try? JSONValue.parse(String(decoding: bytes, as: UTF8.self))).map(ChangeLine.init)
    }

    /// The line read from its bytes; nil when it is anything but one flat object of plain keys (no escapes, none
    /// twice) whose values are integers of up to 18 digits, `true`, `false`, `null` or arrays of such integers, with
    /// no white space: then the caller uses the full parser.
    static func fast(_ bytes: ArraySlice<UInt8>) -> ChangeLine? {
        var i = bytes.startIndex
        let end = bytes.endIndex
        func peek() -> UInt8? { i < end ? bytes[i] : nil }
        func eat(_ c: UInt8) -> Bool {
            guard i < end, bytes[i] == c else { return false }
            i += 1
            return true
        }
        func integer() -> Int64? {
            let negative = eat(UInt8(ascii: "-"))
            let start = i
            var value: Int64 = 0
            while let c = peek(), c >= 0x30, c <= 0x39 {
                guard i - start < 18 else { return nil }
                value = value * 10 + Int64(c - 0x30)
                i += 1
            }
            // JSON has no leading zeros, and a number here is an integer (a fraction or exponent: the full parser).
            guard i > start, bytes[start] != 0x30 || i - start == 1 else { return nil }
            if let c = peek(), c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { return nil }
            return negative ? -value : value
        }
        func word(_ w: StaticString) -> Bool {
            let n = w.utf8CodeUnitCount
            guard end - i >= n else { return false }
            for k in 0..<n where bytes[i + k] != w.utf8Start[k] { return false }
            i += n
            return true
        }
        var line = ChangeLine(ids: nil)
        var keys: [ArraySlice<UInt8>] = []
        guard eat(UInt8(ascii: "{")) else { return nil }
        if eat(UInt8(ascii: "}")) { return i == end ? line : nil }
        repeat {
            guard eat(UInt8(ascii: "\"")) else { return nil }
            let keyStart = i
            while let c = peek(), c != UInt8(ascii: "\"") {
                guard c >= 0x20, c != UInt8(ascii: "\\"), c < 0x80 else { return nil }
                i += 1
            }
            let key = bytes[keyStart..<i]
            guard eat(UInt8(ascii: "\"")), eat(UInt8(ascii: ":")), !keys.contains(key) else { return nil }
            keys.append(key)
            switch peek() {
            case UInt8(ascii: "["):
                i += 1
                var list: [Int64] = []
                if !eat(UInt8(ascii: "]")) {
                    repeat {
                        guard let n = integer() else { return nil }
                        list.append(n)
                    } while eat(UInt8(ascii: ","))
                    guard eat(UInt8(ascii: "]")) else { return nil }
                }
                if key.elementsEqual("ids".utf8) { line.ids = list } else if key.elementsEqual("review_head".utf8) { line.reviewHead = list }
            case UInt8(ascii: "t"): guard word("true") else { return nil }
            case UInt8(ascii: "f"): guard word("false") else { return nil }
            case UInt8(ascii: "n"): guard word("null") else { return nil }
            default:
                guard let n = integer() else { return nil }
                if key.elementsEqual("review".utf8) { line.review = n }
            }
        } while eat(UInt8(ascii: ","))
        guard eat(UInt8(ascii: "}")), i == end else { return nil }
        return line
    }
}
