// whoami: GetCallerIdentity with the AWS SDK for Go v2's default credential chain, as any Go
// program (Terraform's AWS provider among them) resolves credentials. Prints the caller's ARN.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "whoami: %v\n", err)
		os.Exit(1)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "whoami: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(*out.Arn)
}
