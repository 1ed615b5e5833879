/**
 * The OTLP logs messages, built once when this module loads: protobufjs parses the vendored
 * opentelemetry-proto files (their text is embedded: `proto/embedded.ts`) into one Root. Decoding and
 * encoding are protobufjs's; sluice holds no protobuf wire code of its own.
 *
 * `google.rpc.Status` (the body of an OTLP refusal) is two fields, declared here with protobufjs's
 * reflection API rather than vendoring googleapis for it; its `details` (field 3) are never sent.
 */
import { Field, parse, Root, Type } from 'protobufjs';
import { PROTO_FILES } from './proto/embedded';

const root = new Root();
for (const file of PROTO_FILES) parse(file.text, root, { keepCase: false });
root.define('google.rpc').add(new Type('Status').add(new Field('code', 1, 'int32')).add(new Field('message', 2, 'string')));
root.resolveAll();

export const ExportLogsServiceRequest: Type = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
export const ExportLogsServiceResponse: Type = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse');
export const RpcStatus: Type = root.lookupType('google.rpc.Status');
/** `SEVERITY_NUMBER_INFO` → 9 …: OTLP/JSON senders may write the enum's name. */
export const SEVERITY_NUMBERS: Readonly<Record<string, number>> = root.lookupEnum('opentelemetry.proto.logs.v1.SeverityNumber').values;
