// whoami: GetCallerIdentity with the AWS SDK for JavaScript v3's Node.js credential chain
// (@aws-sdk/credential-providers), as any Node.js program resolves credentials. Prints the ARN.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";

const client = new STSClient({ credentials: fromNodeProviderChain() });
try {
  const out = await client.send(new GetCallerIdentityCommand({}));
  process.stdout.write(`${out.Arn}\n`);
} catch (err) {
  process.stderr.write(`whoami: ${err.name}: ${err.message}\n`);
  process.exit(1);
}
