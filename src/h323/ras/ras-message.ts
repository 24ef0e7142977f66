/** RasMessage, the CHOICE every RAS datagram holds, and its entry points. */
import {
  OPAQUE,
  alt,
  choice,
  decodePer,
  encodePer,
  encodePerWithPositions,
  unsupported,
  type Alternative,
  type Encoded,
  type Opaque,
  type PerDecodeFailure,
  type Position,
  type UnknownAlternative,
} from '../per/index.js';
import {
  GatekeeperConfirm,
  GatekeeperReject,
  GatekeeperRequest,
  RegistrationConfirm,
  RegistrationReject,
  RegistrationRequest,
  RequestInProgress,
  UnregistrationConfirm,
  UnregistrationReject,
  UnregistrationRequest,
} from './messages.js';

export type RasMessage =
  | { type: 'gatekeeperRequest'; value: GatekeeperRequest }
  | { type: 'gatekeeperConfirm'; value: GatekeeperConfirm }
  | { type: 'gatekeeperReject'; value: GatekeeperReject }
  | { type: 'registrationRequest'; value: RegistrationRequest }
  | { type: 'registrationConfirm'; value: RegistrationConfirm }
  | { type: 'registrationReject'; value: RegistrationReject }
  | { type: 'unregistrationRequest'; value: UnregistrationRequest }
  | { type: 'unregistrationConfirm'; value: UnregistrationConfirm }
  | { type: 'unregistrationReject'; value: UnregistrationReject }
  | { type: 'requestInProgress'; value: RequestInProgress }
  | {
      type:
        | 'resourcesAvailableIndicate'
        | 'resourcesAvailableConfirm'
        | 'infoRequestAck'
        | 'infoRequestNak'
        | 'serviceControlIndication'
        | 'serviceControlResponse'
        | 'admissionConfirmSequence';
      value: Opaque;
    }
  | UnknownAlternative;

/** Root alternatives after the nine modelled ones: decoding them fails with 'unsupported'. */
const UNSUPPORTED_ROOT = [
  'admissionRequest',
  'admissionConfirm',
  'admissionReject',
  'bandwidthRequest',
  'bandwidthConfirm',
  'bandwidthReject',
  'disengageRequest',
  'disengageConfirm',
  'disengageReject',
  'locationRequest',
  'locationConfirm',
  'locationReject',
  'infoRequest',
  'infoRequestResponse',
  'nonStandardMessage',
  'unknownMessageResponse',
];

export const RasMessage = choice<RasMessage>(
  'RasMessage',
  [
    alt('gatekeeperRequest', GatekeeperRequest),
    alt('gatekeeperConfirm', GatekeeperConfirm),
    alt('gatekeeperReject', GatekeeperReject),
    alt('registrationRequest', RegistrationRequest),
    alt('registrationConfirm', RegistrationConfirm),
    alt('registrationReject', RegistrationReject),
    alt('unregistrationRequest', UnregistrationRequest),
    alt('unregistrationConfirm', UnregistrationConfirm),
    alt('unregistrationReject', UnregistrationReject),
    ...UNSUPPORTED_ROOT.map((name) => alt(name, unsupported(name)) as unknown as Alternative<RasMessage>),
  ],
  [
    alt('requestInProgress', RequestInProgress),
    alt('resourcesAvailableIndicate', OPAQUE),
    alt('resourcesAvailableConfirm', OPAQUE),
    alt('infoRequestAck', OPAQUE),
    alt('infoRequestNak', OPAQUE),
    alt('serviceControlIndication', OPAQUE),
    alt('serviceControlResponse', OPAQUE),
    alt('admissionConfirmSequence', OPAQUE),
  ],
);

export type RasDecodeResult =
  | {
      ok: true;
      message: RasMessage;
      /** Where a decoded BIT STRING or OCTET STRING value sat in the datagram (e.g. an H.235.1 hash to zero). */
      locate(value: object): Position | undefined;
    }
  | { ok: false; error: PerDecodeFailure };

/** Decodes one RAS datagram. Never throws. */
export function decodeRas(bytes: Uint8Array): RasDecodeResult {
  const r = decodePer(RasMessage, bytes);
  if (!r.ok) return r;
  return { ok: true, message: r.value, locate: (v) => r.positions.get(v) };
}

/** Encodes a RAS message; throws PerEncodeError if a value is outside its type. */
export function encodeRas(message: RasMessage): Buffer {
  return encodePer(RasMessage, message);
}

/** Encodes and tells where each BIT STRING / OCTET STRING value was written. */
export function encodeRasWithPositions(message: RasMessage): Encoded {
  return encodePerWithPositions(RasMessage, message);
}
