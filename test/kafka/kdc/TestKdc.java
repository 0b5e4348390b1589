import java.io.File;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;

import org.apache.kerby.kerberos.kerb.server.KdcConfigKey;
import org.apache.kerby.kerberos.kerb.server.SimpleKdcServer;

/**
 * A Kerberos KDC on loopback for test/kafka/with-kafka.sh (Apache Kerby's
 * SimpleKdcServer, as Kafka's MiniKdc). Usage:
 *
 *   TestKdc DIR REALM PORT LIFETIME_SECONDS BROKER_PRINCIPAL CLIENT_PRINCIPAL
 *
 * Writes into DIR: broker.keytab (BROKER_PRINCIPAL), client.keytab
 * (CLIENT_PRINCIPAL), wrong.keytab (CLIENT_PRINCIPAL's earlier keys: the KDC
 * refuses them), gone.keytab (a principal gone@REALM deleted since: the KDC
 * does not know it), then the file "ready"; serves until killed. Tickets
 * live LIFETIME_SECONDS at most.
 */
public final class TestKdc {
  public static void main(String[] args) throws Exception {
    File dir = new File(args[0]);
    String realm = args[1];
    int port = Integer.parseInt(args[2]);
    long lifetime = Long.parseLong(args[3]);
    String broker = args[4], client = args[5];
    String gone = "gone@" + realm;

    SimpleKdcServer kdc = new SimpleKdcServer();
    kdc.setWorkDir(dir);
    kdc.setKdcHost("127.0.0.1");
    kdc.setKdcRealm(realm);
    kdc.setAllowUdp(false);
    kdc.setAllowTcp(true);
    kdc.setKdcTcpPort(port);
    kdc.getKdcConfig().setLong(KdcConfigKey.MAXIMUM_TICKET_LIFETIME, lifetime);
    kdc.getKdcConfig().setLong(KdcConfigKey.MINIMUM_TICKET_LIFETIME, 1L);
    kdc.getKdcConfig().setLong(KdcConfigKey.MAXIMUM_RENEWABLE_LIFETIME, lifetime);
    kdc.init();

    kdc.createPrincipal(client);
    kdc.exportPrincipal(client, new File(dir, "wrong.keytab"));
    kdc.deletePrincipal(client);
    kdc.createPrincipal(client);
    kdc.exportPrincipal(client, new File(dir, "client.keytab"));
    kdc.createPrincipal(gone);
    kdc.exportPrincipal(gone, new File(dir, "gone.keytab"));
    kdc.deletePrincipal(gone);
    kdc.createPrincipal(broker);
    kdc.exportPrincipal(broker, new File(dir, "broker.keytab"));

    kdc.start();
    File tmp = new File(dir, "ready.tmp");
    Files.writeString(tmp.toPath(), "ready\n");
    Files.move(tmp.toPath(), new File(dir, "ready").toPath(), StandardCopyOption.ATOMIC_MOVE);
    Thread.currentThread().join();
  }
}
