import Foundation
import XCTest
@testable import SymModel

/// `console.keys`: rebinding console keys, validated when the config loads.
final class ConsoleKeysConfigTests: XCTestCase {
    func testReboundKeysLoad() {
        let c = assertValid(ConfigText.with(extra: #"console: { keys: { approve: "y", deny: "n" } }"#))
        XCTAssertEqual(c?.console.keys, ["approve": "y", "deny": "n"])
    }

    func testAnUnknownActionIsAProblemAtItsPath() {
        assertProblem(ConfigText.with(extra: #"console: { keys: { aprove: "y" } }"#), "unknown console action 'aprove' (did you mean 'approve'?)",
                      path: "console.keys.aprove")
    }

    func testAKeyBoundTwiceIsAProblem() {
        assertProblem(ConfigText.with(extra: #"console: { keys: { approve: "d" } }"#), "key 'd' is bound twice (approve and deny)",
                      path: "console.keys.approve")
    }

    func testSwappingTwoKeysIsFine() {
        assertValid(ConfigText.with(extra: #"console: { keys: { approve: "d", deny: "a" } }"#))
    }

    func testAReservedKeyIsAProblem() {
        assertProblem(ConfigText.with(extra: #"console: { keys: { approve: "q" } }"#), "'q' is reserved", path: "console.keys.approve")
        assertProblem(ConfigText.with(extra: #"console: { keys: { filter: ":" } }"#), "':' is reserved", path: "console.keys.filter")
    }

    func testAKeyMustBeOnePrintableCharacter() {
        assertProblem(ConfigText.with(extra: #"console: { keys: { approve: "Esc" } }"#), "is not one printable character", path: "console.keys.approve")
        assertProblem(ConfigText.with(extra: #"console: { keys: { approve: 1 } }"#), "expected a key", path: "console.keys.approve")
    }

    func testAnUnknownKeyInTheConsoleSectionIsAProblem() {
        assertProblem(ConfigText.with(extra: #"console: { colours: {} }"#), "unknown key 'colours' in console", path: "console.colours")
    }
}
