/** H.248.8 error codes keyswitch sends (text is ours). */
export const H248_ERROR = {
  syntaxMessage: 400, // Syntax error in message
  protocolError: 401, // Protocol Error
  unauthorized: 402, // Unauthorized
  syntaxTransaction: 403, // Syntax error in transaction request
  versionNotSupported: 406,
  unknownCommand: 443,
  unknownParameterValue: 449, // Unsupported or Unknown Parameter or Property Value
  missingParameter: 457, // Missing parameter in signal or event
  internal: 500, // Internal software failure in the MG or MGC
  unavailable: 503, // Service Unavailable
  unauthorizedEntity: 504, // Command Received from unauthorized entity
  notReady: 505, // Transaction Request Received before a ServiceChange Reply has been received
} as const;
