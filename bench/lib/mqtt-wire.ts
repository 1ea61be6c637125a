/**
 * The few MQTT 3.1.1 packets the bench's lean MQTT clients need (CONNECT, SUBSCRIBE, PUBLISH at QoS 1,
 * PUBACK) and a splitter for what the broker sends back. Written by hand, as the localpush simulator
 * speaks its own wire directly: a general client (mqtt.js) keeps stores, timers and events per client,
 * which for 10,000 devices in two processes is CPU taken from the broker it shares the cores with. The
 * bench trusts the broker on loopback and validates nothing it does not need to, as for localpush.
 */

export const PACKET = {
  connack: 2,
  publish: 3,
  puback: 4,
  suback: 9,
  pingresp: 13,
} as const;

function remainingLength(n: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return bytes;
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...remainingLength(body.length)]), body]);
}

function utf8(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** CONNECT, MQTT 3.1.1; `clean: false` keeps the session (and its QoS 1 queue) across connections. */
export function connectPacket(clientId: string, clean: boolean, keepaliveS: number): Buffer {
  const flags = clean ? 0x02 : 0x00;
  return packet(
    0x10,
    Buffer.concat([utf8('MQTT'), Buffer.from([4, flags]), u16(keepaliveS), utf8(clientId)]),
  );
}

export function subscribePacket(packetId: number, topic: string, qos: 0 | 1): Buffer {
  return packet(0x82, Buffer.concat([u16(packetId), utf8(topic), Buffer.from([qos])]));
}

export function publishPacket(packetId: number, topic: string, payload: Buffer | string): Buffer {
  return packet(0x32, Buffer.concat([utf8(topic), u16(packetId), Buffer.from(payload)]));
}

export function pubackPacket(packetId: number): Buffer {
  return Buffer.from([0x40, 2, packetId >> 8, packetId & 0xff]);
}

export interface MqttPacket {
  type: number;
  flags: number;
  body: Buffer;
}

/** Splits a byte stream into packets (fixed header, remaining length, body). */
export class PacketSplitter {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): MqttPacket[] {
    const data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const packets: MqttPacket[] = [];
    let offset = 0;
    for (;;) {
      if (data.length - offset < 2) break;
      let length = 0;
      let multiplier = 1;
      let cursor = offset + 1;
      let complete = false;
      while (cursor < data.length && cursor < offset + 5) {
        const byte = data[cursor++] ?? 0;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || data.length - cursor < length) break;
      const first = data[offset] ?? 0;
      packets.push({ type: first >> 4, flags: first & 0x0f, body: data.subarray(cursor, cursor + length) });
      offset = cursor + length;
    }
    this.pending = offset === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(offset));
    return packets;
  }
}

/** A PUBLISH's packet id (0 at QoS 0) and payload. */
export function readPublish(p: MqttPacket): { packetId: number; payload: Buffer } {
  const topicLength = p.body.readUInt16BE(0);
  const qos = (p.flags >> 1) & 0x03;
  let offset = 2 + topicLength;
  let packetId = 0;
  if (qos > 0) {
    packetId = p.body.readUInt16BE(offset);
    offset += 2;
  }
  return { packetId, payload: p.body.subarray(offset) };
}
