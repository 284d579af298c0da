// An application using ioredis, run against respcache by TestIoredisClient.
// ioredis sends INFO (ready check) and CLIENT SETNAME on connect.
const Redis = require("ioredis");

async function main() {
  const port = Number(process.argv[2]);
  const redis = new Redis({ port, host: "127.0.0.1", connectionName: "ioredis-app", db: 2, enableReadyCheck: true, maxRetriesPerRequest: 1 });
  const other = new Redis({ port, host: "127.0.0.1", db: 2 });
  const check = (what, got, want) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
  };
  check("SET", await redis.set("k", "v"), "OK");
  check("GET", await redis.get("k"), "v");
  check("GET missing", await redis.get("missing"), null);
  check("CLIENT GETNAME", await redis.client("GETNAME"), "ioredis-app");
  await redis.hset("h", "a", "1", "b", "2");
  check("HGETALL", await redis.hgetall("h"), { a: "1", b: "2" });
  const res = await redis.pipeline().incr("c").incr("c").get("c").exec();
  check("pipeline", res.map((r) => r[1]), [1, 2, "2"]);
  const tx = await redis.multi().set("t", "1").incr("t").exec();
  check("MULTI", tx.map((r) => r[1]), ["OK", 2]);
  let err = null;
  try { await redis.lpush("k", "x"); } catch (e) { err = e.message; }
  check("WRONGTYPE", err, "WRONGTYPE Operation against a key holding the wrong kind of value");
  const sub = new Redis({ port, host: "127.0.0.1" });
  await sub.subscribe("news");
  const got = new Promise((resolve) => sub.on("message", (ch, msg) => resolve([ch, msg])));
  await other.publish("news", "hello");
  check("message", await got, ["news", "hello"]);
  const popped = redis.blpop("q", 5);
  await new Promise((r) => setTimeout(r, 100));
  await other.rpush("q", "job");
  check("BLPOP", await popped, ["q", "job"]);
  const info = await redis.info("server");
  if (!info.includes("redis_version:")) throw new Error("INFO lacks redis_version");
  await redis.flushdb();
  sub.disconnect(); other.disconnect(); redis.disconnect();
  console.log("ioredis app: ok");
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
