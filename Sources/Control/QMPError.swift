/// A QMP error reply: QEMU's error class and a one-line description.
public struct QMPError: Error, Equatable, Sendable {
    public let errorClass: String
    public let desc: String

    public init(_ errorClass: String = "GenericError", _ desc: String) {
        self.errorClass = errorClass
        self.desc = desc
    }

    public static func generic(_ desc: String) -> QMPError { QMPError("GenericError", desc) }
    public static func commandNotFound(_ desc: String) -> QMPError { QMPError("CommandNotFound", desc) }

    var json: JSONValue { ["class": .string(errorClass), "desc": .string(desc)] }
}
