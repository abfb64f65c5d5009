// HTTP enrichment: for each live event, ask a service about the event's host
// (GET $ENRICH_URL<host>, answering a number such as a capacity), write that number as a new
// point, and every SUMMARY_EVERY events POST a summary to $SUMMARY_URL (when set).
import { queryLive, pollHandle, writeEvent, writebackHttp, Method, envVar, log } from "../../assemblyscript/index";
export { allocate, deallocate } from "../../assemblyscript/index";

const QUERY = "COUNT:requests:[service=api]:[10s,now]";
const SUMMARY_EVERY = 10;

export function call(): void {
  const enrichUrl = envVar("ENRICH_URL");
  if (enrichUrl == null) {
    log("http-enrich: set ENRICH_URL (deploy --env ENRICH_URL=https://...)");
    return;
  }
  const summaryUrl = envVar("SUMMARY_URL");
  const handle = queryLive(QUERY);
  if (handle == 0) {
    log("http-enrich: the query was rejected: " + QUERY);
    return;
  }
  let seen = 0;
  let enriched = 0;
  while (true) {
    const event = pollHandle(handle);
    if (event == null) continue;
    seen++;
    const host = event.tag("host");
    if (host != null) {
      const body = writebackHttp(enrichUrl + host, "", Method.GET);
      const value = body != null ? parseFloat(body.trim()) : NaN;
      if (!isNaN(value) && writeEvent(event.timestamp, value, "series=requests.enriched,host=" + host)) enriched++;
    }
    if (summaryUrl != null && seen % SUMMARY_EVERY == 0) {
      writebackHttp(summaryUrl, '{"seen":' + seen.toString() + ',"enriched":' + enriched.toString() + "}", Method.POST);
    }
  }
}
