# The scenario tests/paho_output.rs runs with Paho and with pahoish against the same scripted broker:
# each prints what its on_log and callbacks saw, and the two transcripts must be the same.
# Usage: python3 script.py PORT 3|5
import sys

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
protocol = mqtt.MQTTv5 if sys.argv[2] == "5" else mqtt.MQTTv311
received = [0]


def on_log(client, userdata, level, buf):
    print("LOG", level, buf)


def on_connect(client, userdata, flags, rc, properties):
    print("CONNECT", flags, rc, properties)
    client.subscribe([("a/b", 1), ("c/#", 2)])


def on_subscribe(client, userdata, mid, rcs, properties):
    print("SUBACK", mid, rcs)
    client.publish("a/b", "hello", 0)
    client.publish("a/b", b"\x00\x01", 1)
    client.publish("c/d", "xxx", 2)


def on_publish(client, userdata, mid, rc, properties):
    print("PUB", mid, rc, properties)


def on_message(client, userdata, msg):
    print("MSG", msg.topic, msg.payload, msg.qos, msg.mid)
    received[0] += 1
    if received[0] == 3:
        client.unsubscribe("a/b")


def on_unsubscribe(client, userdata, mid, rcs, properties):
    print("UNSUB", mid, rcs)
    client.disconnect()


def on_disconnect(client, userdata, flags, rc, properties):
    print("DISC", flags, rc, properties)


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "cid1", protocol=protocol)
client.on_log = on_log
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_publish = on_publish
client.on_message = on_message
client.on_unsubscribe = on_unsubscribe
client.on_disconnect = on_disconnect
client.username_pw_set("user", "pw")
client.will_set("w/t", "bye", 1, True)
client.connect("127.0.0.1", port, 60)
client.loop_forever()
