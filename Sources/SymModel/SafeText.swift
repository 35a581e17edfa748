/// Neutralises user-supplied text before it reaches a terminal: every display path goes through here.
public enum SafeText {
    /// Replaces C0/C1 controls, DEL, ESC-introduced sequences (CSI, OSC, DCS…), bidi and zero-width
    /// controls with visible stand-ins, and folds line breaks and tabs to spaces.
    public static func display(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var scalars = Array(text.unicodeScalars)[...]
        while let u = scalars.first {
            scalars = scalars.dropFirst()
            switch u.value {
            case 0x09, 0x0A, 0x0D:
                out.append(" ")
            case 0x1B:
                // Drop the whole escape sequence so that no fragment of it shows as text or acts.
                out.append("\u{241B}")  // ␛
                scalars = dropEscapeSequence(scalars)
            case 0x9B, 0x9D, 0x90, 0x9E, 0x9F, 0x98:  // C1 CSI, OSC, DCS, PM, APC, SOS
                out.append("\u{FFFD}")
                scalars = dropControlString(scalars, csi: u.value == 0x9B)
            case 0x00...0x1F:
                out.append(UnicodeScalar(0x2400 + u.value)!)  // ␀ … ␟
            case 0x7F:
                out.append("\u{2421}")  // ␡
            case 0x80...0x9F:
                out.append("\u{FFFD}")
            case 0x200D where isEmoji(out.last) && isEmoji(scalars.first):
                out.append(u)  // a joiner inside an emoji sequence (👩‍💻) hides nothing
            case 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2064, 0x2066...0x2069, 0xFEFF, 0x061C, 0x180E,
                 0xFFF9...0xFFFB:
                out.append("\u{FFFD}")
            case 0xE0000...0xE007F:  // tag characters
                out.append("\u{FFFD}")
            default:
                out.append(u)
            }
        }
        return String(out)
    }

    private static func isEmoji(_ u: UnicodeScalar?) -> Bool {
        guard let u else { return false }
        return u.value >= 0x2000 && (u.properties.isEmojiPresentation || u.properties.isEmoji)
    }

    /// True when `display` would change nothing.
    public static func isClean(_ text: String) -> Bool { display(text) == text }

    private static func dropEscapeSequence(_ s: ArraySlice<UnicodeScalar>) -> ArraySlice<UnicodeScalar> {
        guard let first = s.first else { return s }
        switch first {
        case "[": return dropControlString(s.dropFirst(), csi: true)
        case "]", "P", "X", "^", "_": return dropControlString(s.dropFirst(), csi: false)
        default:
            // Two-character escapes (ESC c, ESC 7…) and charset designations (ESC ( B).
            var rest = s
            while let c = rest.first, (0x20...0x2F).contains(c.value) { rest = rest.dropFirst() }
            if let c = rest.first, (0x30...0x7E).contains(c.value) { rest = rest.dropFirst() }
            return rest
        }
    }

    /// Skips a CSI's parameters up to its final byte, or a string control up to BEL/ST.
    private static func dropControlString(_ s: ArraySlice<UnicodeScalar>, csi: Bool) -> ArraySlice<UnicodeScalar> {
        var rest = s
        if csi {
            while let c = rest.first {
                rest = rest.dropFirst()
                if (0x40...0x7E).contains(c.value) { break }
                if !(0x20...0x3F).contains(c.value) { break }
            }
            return rest
        }
        while let c = rest.first {
            rest = rest.dropFirst()
            if c.value == 0x07 || c.value == 0x9C { break }
            if c.value == 0x1B { if rest.first == "\\" { rest = rest.dropFirst() }; break }
        }
        return rest
    }
}
