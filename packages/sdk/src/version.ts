/** The SDK's version, sent as `X-AstrDesk-SDK: js/<version>`. Kept equal to package.json by a test. */
export const VERSION = '0.1.0';
